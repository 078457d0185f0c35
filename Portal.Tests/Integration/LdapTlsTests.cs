using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Directory;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// Throwaway slapds (real ones, from the test slapd's configuration) for what the shared test slapd must not do: one
/// that refuses simple binds without TLS, one that presents a certificate from a CA the portal does not trust, and one
/// that offers no TLS at all.
/// </summary>
public sealed class ThrowawaySlapds : IDisposable
{
    /// <summary>The test CA's certificate, and simple binds refused below a 128-bit security strength.</summary>
    public ThrowawaySlapd TlsRequired { get; } = new(SlapdTls.OfTheTestSlapd(), "olcSecurity: simple_bind=128");

    public ThrowawaySlapd ForeignCertificate { get; } = new(SlapdTls.FromAnUntrustedCa());

    public ThrowawaySlapd WithoutTls { get; } = new(tls: null);

    public void Dispose()
    {
        TlsRequired.Dispose();
        ForeignCertificate.Dispose();
        WithoutTls.Dispose();
    }
}

/// <summary>Passwords reach LDAP only over TLS with a trusted certificate, unless plain LDAP is configured explicitly.</summary>
public sealed class LdapTlsTests(ThrowawaySlapds slapds) : IClassFixture<ThrowawaySlapds>
{
    private static readonly Username Person = Username.Parse(ThrowawaySlapd.PersonUid);

    private static LdapDirectory Directory(int port, LdapSecurity security = LdapSecurity.StartTls)
    {
        var options = LdapTestUsers.Options(port);
        options.Security = security;
        return LdapTestUsers.Directory(options);
    }

    [Fact]
    public void LdapOptions_NothingConfigured_StartTls()
    {
        var options = new LdapOptions();

        Assert.Equal(LdapSecurity.StartTls, options.Security);
        Assert.Equal(389, options.EffectivePort);
        Assert.Equal(636, new LdapOptions { Security = LdapSecurity.Ldaps }.EffectivePort);
    }

    [Fact]
    public async Task AuthenticateAsync_StartTlsWhereTheDirectoryRefusesPlainBinds_SignsIn()
    {
        var outcome = await Directory(slapds.TlsRequired.Port).AuthenticateAsync(Person, ThrowawaySlapd.PersonPassword, CancellationToken.None);

        Assert.Equal(ThrowawaySlapd.PersonUid, Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User.Username.Value);
        Assert.Contains("STARTTLS", slapds.TlsRequired.LogOnceAllConnectionsClosed(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuthenticateAsync_LdapsWhereTheDirectoryRefusesPlainBinds_SignsIn()
    {
        var ldaps = Directory(slapds.TlsRequired.LdapsPort!.Value, LdapSecurity.Ldaps);

        var outcome = await ldaps.AuthenticateAsync(Person, ThrowawaySlapd.PersonPassword, CancellationToken.None);

        Assert.IsType<DirectoryAuthentication.Succeeded>(outcome);
    }

    [Fact]
    public async Task ChangePasswordAsync_StartTlsWhereTheDirectoryRefusesPlainBinds_Changes()
    {
        var directory = Directory(slapds.TlsRequired.Port);
        var changer = Username.Parse(ThrowawaySlapd.ChangerUid);
        const string chosen = "Tls-chosen-password-2";

        var outcome = await directory.ChangePasswordAsync(changer, ThrowawaySlapd.PersonPassword, chosen, CancellationToken.None);

        Assert.IsType<PasswordChangeOutcome.Changed>(outcome);
        Assert.IsType<DirectoryAuthentication.Succeeded>(await directory.AuthenticateAsync(changer, chosen, CancellationToken.None));
    }

    /// <summary>What makes the three tests above proof of TLS: this directory refuses the same sign-in without it.</summary>
    [Fact]
    public async Task AuthenticateAsync_PlainLdapWhereTheDirectoryRefusesPlainBinds_Unavailable()
    {
        var plain = Directory(slapds.TlsRequired.Port, LdapSecurity.None);

        var error = await Assert.ThrowsAsync<DirectoryUnavailableException>(() =>
            plain.AuthenticateAsync(Person, ThrowawaySlapd.PersonPassword, CancellationToken.None));

        Assert.Contains("Confidentiality", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuthenticateAsync_PlainLdapConfiguredExplicitly_StillSignsInAtTheTestSlapd()
    {
        var env = TestEnvironment.Current;
        var plain = Directory(env.LdapPort, LdapSecurity.None);

        var outcome = await plain.AuthenticateAsync(Username.Parse(env.AdminUsername), env.AdminPassword, CancellationToken.None);

        Assert.IsType<DirectoryAuthentication.Succeeded>(outcome);
    }

    [Fact]
    public async Task AuthenticateAsync_LdapsAtTheTestSlapd_SignsIn()
    {
        var env = TestEnvironment.Current;

        var outcome = await Directory(env.LdapsPort, LdapSecurity.Ldaps)
            .AuthenticateAsync(Username.Parse(env.AdminUsername), env.AdminPassword, CancellationToken.None);

        Assert.IsType<DirectoryAuthentication.Succeeded>(outcome);
    }

    [Fact]
    public async Task AuthenticateAsync_StartTlsToACertificateFromAnotherCa_RefusedBeforeAnyCredentialIsSent()
    {
        var error = await Assert.ThrowsAsync<DirectoryUnavailableException>(() =>
            Directory(slapds.ForeignCertificate.Port).AuthenticateAsync(Person, ThrowawaySlapd.PersonPassword, CancellationToken.None));

        Assert.Contains("StartTLS", error.Message, StringComparison.Ordinal);
        Assert.Contains("no credential was sent", error.Message, StringComparison.Ordinal);
        // The server saw the StartTLS request, then no bind with a DN: neither the service account's nor the person's.
        Assert.Contains("EXT oid=1.3.6.1.4.1.1466.20037", slapds.ForeignCertificate.LogOnceAllConnectionsClosed(), StringComparison.Ordinal);
        Assert.Empty(slapds.ForeignCertificate.CredentialBinds());
    }

    [Fact]
    public async Task AuthenticateAsync_LdapsToACertificateFromAnotherCa_RefusedBeforeAnyCredentialIsSent()
    {
        var port = slapds.ForeignCertificate.LdapsPort!.Value;

        var error = await Assert.ThrowsAsync<DirectoryUnavailableException>(() =>
            Directory(port, LdapSecurity.Ldaps).AuthenticateAsync(Person, ThrowawaySlapd.PersonPassword, CancellationToken.None));

        Assert.Contains("no credential was sent", error.Message, StringComparison.Ordinal);
        // It reached the server (so the refusal is the handshake's), and no bind with a DN followed.
        Assert.Contains($"(IP=127.0.0.1:{port})", slapds.ForeignCertificate.LogOnceAllConnectionsClosed(), StringComparison.Ordinal);
        Assert.Empty(slapds.ForeignCertificate.CredentialBinds());
    }

    [Fact]
    public async Task ChangePasswordAsync_StartTlsToACertificateFromAnotherCa_RefusedBeforeAnyCredentialIsSent()
    {
        await Assert.ThrowsAsync<DirectoryUnavailableException>(() => Directory(slapds.ForeignCertificate.Port)
            .ChangePasswordAsync(Person, ThrowawaySlapd.PersonPassword, "Tls-chosen-password-3", CancellationToken.None));

        Assert.Empty(slapds.ForeignCertificate.CredentialBinds());
    }

    [Fact]
    public async Task AuthenticateAsync_StartTlsToAServerWithoutTls_RefusedBeforeAnyCredentialIsSent()
    {
        var error = await Assert.ThrowsAsync<DirectoryUnavailableException>(() =>
            Directory(slapds.WithoutTls.Port).AuthenticateAsync(Person, ThrowawaySlapd.PersonPassword, CancellationToken.None));

        Assert.Contains("StartTLS", error.Message, StringComparison.Ordinal);
        Assert.Contains("no credential was sent", error.Message, StringComparison.Ordinal);
        Assert.Contains("EXT oid=1.3.6.1.4.1.1466.20037", slapds.WithoutTls.LogOnceAllConnectionsClosed(), StringComparison.Ordinal);
        Assert.Empty(slapds.WithoutTls.CredentialBinds());
    }

    [Fact]
    public async Task StartAsync_PlainLdapConfigured_WarnsOnce()
    {
        var logger = new RecordingLogger();

        await new LdapTransportWarning(Options.Create(new LdapOptions { Security = LdapSecurity.None, Port = 1389 }), logger)
            .StartAsync(CancellationToken.None);

        var warning = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("unencrypted", warning.Message, StringComparison.Ordinal);
        Assert.Contains("1389", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_StartTlsConfigured_SaysNothing()
    {
        var logger = new RecordingLogger();

        await new LdapTransportWarning(Options.Create(new LdapOptions()), logger).StartAsync(CancellationToken.None);

        Assert.Empty(logger.Entries);
    }

    private sealed class RecordingLogger : ILogger<LdapTransportWarning>
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
