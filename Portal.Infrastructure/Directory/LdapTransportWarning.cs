using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// Says at start, once, when passwords would reach LDAP unprotected: plain LDAP configured, or libldap told by its
/// environment not to insist on a trusted certificate (LDAPTLS_REQCERT, read by libldap itself; ldap.conf and
/// ~/.ldaprc can say the same, which the portal cannot see).
/// </summary>
public sealed partial class LdapTransportWarning(IOptions<LdapOptions> options, ILogger<LdapTransportWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var ldap = options.Value;
        if (ldap.Security == LdapSecurity.None)
        {
            LogPlainLdap(logger, ldap.Host, ldap.EffectivePort);
        }
        else if (Environment.GetEnvironmentVariable("LDAPTLS_REQCERT") is { } reqcert
                 && !string.Equals(reqcert.Trim(), "demand", StringComparison.OrdinalIgnoreCase)
                 && !string.Equals(reqcert.Trim(), "hard", StringComparison.OrdinalIgnoreCase))
        {
            LogCertificateNotRequired(logger, reqcert);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Ldap:Security is None: sign-in and password-change passwords go to ldap://{Host}:{Port} unencrypted. Use StartTls or Ldaps outside a test machine.")]
    private static partial void LogPlainLdap(ILogger logger, string host, int port);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "LDAPTLS_REQCERT={Value}: libldap will not insist on a trusted LDAP server certificate, so TLS does not protect the passwords from an impostor.")]
    private static partial void LogCertificateNotRequired(ILogger logger, string value);
}
