using System.Diagnostics;
using System.DirectoryServices.Protocols;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// <see cref="IDirectory"/> over OpenLDAP with System.DirectoryServices.Protocols. The library is synchronous,
/// so each call runs on the thread pool. What the portal asks as its service account runs on a connection lent by
/// <see cref="ServiceConnectionPool"/> (set up once: connect, TLS, bind; docs/decisions/0016-ldap-service-connections.md);
/// a person's own bind always gets a new connection of its own (<see cref="ConnectAsPerson"/>), closed after it.
/// Every connection is protected as <see cref="LdapOptions.Security"/> says, and no credential is sent before its TLS
/// session is up (docs/decisions/0014-ldap-lockout-and-tls.md).
/// </summary>
public sealed partial class LdapDirectory : IDirectory, IDisposable
{
    private static readonly string[] UserAttributes =
        ["uid", "cn", "displayName", "mail", "uidNumber", "pwdReset", "pwdAccountLockedTime", "pwdPolicySubentry"];

    /// <summary>RFC 4532 "Who am I?" extended operation.</summary>
    public const string WhoAmIOid = "1.3.6.1.4.1.4203.1.11.3";

    private readonly LdapOptions _options;
    private readonly ILogger<LdapDirectory> _logger;
    private readonly TimeProvider _clock;

    /// <summary>The only user of <see cref="ConnectAsService"/>: every service-account operation goes through it.</summary>
    private readonly ServiceConnectionPool _service;

    public LdapDirectory(IOptions<LdapOptions> options, ILogger<LdapDirectory> logger, TimeProvider clock)
    {
        _options = options.Value;
        _logger = logger;
        _clock = clock;
        _service = new ServiceConnectionPool(_options.ServiceConnectionPoolSize, ConnectAsService,
            TimeSpan.FromSeconds(_options.TimeoutSeconds), Endpoint, logger);
    }

    /// <summary>Closes the kept service-account connections (the DI container does so with the singleton).</summary>
    public void Dispose() => _service.Dispose();

    public Task<DirectoryAuthentication> AuthenticateAsync(Username username, string password, CancellationToken cancellationToken)
    {
        // An empty password is an unauthenticated bind, which some servers treat as anonymous success.
        if (string.IsNullOrEmpty(password))
        {
            throw new ArgumentException("A password is required.", nameof(password));
        }
        return AuthenticateCoreAsync(username, password, cancellationToken);
    }

    public Task<DirectoryUser?> FindUserAsync(Username username, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            var entry = FindSingleEntry(service, username.Value);
            return entry is null ? null : ToUser(service, username, entry);
        }, cancellationToken);

    public Task<DirectoryLock?> FindLockAsync(Username username, CancellationToken cancellationToken) =>
        _service.RunAsync(service => FindSingleEntry(service, username.Value) is { } entry ? LockOf(service, entry) : null,
            cancellationToken);

    /// <summary>A round trip on a service-account connection: a kept connection proves nothing until it answers.</summary>
    public Task CheckAvailableAsync(CancellationToken cancellationToken) => ServiceIdentityAsync(cancellationToken);

    /// <summary>
    /// Whom the directory takes the portal's service-account connections for (RFC 4532 "Who am I?"), e.g.
    /// <c>dn:uid=svc-portal,ou=services,dc=example,dc=org</c>.
    /// </summary>
    public Task<string> ServiceIdentityAsync(CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            var response = Send<ExtendedResponse>(service, new ExtendedRequest(WhoAmIOid));
            return response.ResponseValue is { Length: > 0 } value ? Encoding.UTF8.GetString(value) : "";
        }, cancellationToken);

    /// <summary>
    /// Distinguished names of the people whose <c>uid</c> equals <paramref name="uid"/> exactly. The value is escaped
    /// here, so wildcards and filter metacharacters in it match nothing but themselves.
    /// </summary>
    public IReadOnlyList<string> FindDistinguishedNames(string uid) =>
        _service.Run(service => (IReadOnlyList<string>)[.. Search(service, uid, ["uid"]).Select(e => e.DistinguishedName)]);

    /// <summary>
    /// Three steps, not one operation: the service account's look-ups before and after run on lent connections (each
    /// repeatable), the person's bind between them on a connection of its own, which is never repeated here, since
    /// ppolicy counts every wrong password it sees.
    /// </summary>
    private async Task<DirectoryAuthentication> AuthenticateCoreAsync(Username username, string password, CancellationToken cancellationToken)
    {
        var (entry, lockBefore) = await _service.RunAsync<(SearchResultEntry? Entry, DirectoryLock? Lock)>(service =>
            FindSingleEntry(service, username.Value) is { } found ? (found, LockOf(service, found)) : (null, null),
            cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return new DirectoryAuthentication.Refused(SignInRefusal.InvalidCredentials);
        }
        // The directory refuses every bind of a locked entry alike (49), whatever the password: do not try it.
        if (lockBefore is not null)
        {
            return new DirectoryAuthentication.Refused(SignInRefusal.Locked, lockBefore.Until);
        }

        try
        {
            await Task.Run(() => ConnectAsPerson(entry.DistinguishedName, password).Dispose(), cancellationToken).ConfigureAwait(false);
        }
        catch (LdapException e) when (e.ErrorCode == 49)
        {
            // Wrong password, locked and disabled all answer 49; only the service account can tell them apart.
            // A lock now is this failure's doing (the last one ppolicy allowed) or came meanwhile.
            var lockAfter = await _service.RunAsync(service =>
                FindSingleEntry(service, username.Value) is { } now ? LockOf(service, now) : null, cancellationToken).ConfigureAwait(false);
            return lockAfter is { Until: null }
                ? new DirectoryAuthentication.Refused(SignInRefusal.Locked)
                : new DirectoryAuthentication.Refused(SignInRefusal.InvalidCredentials, lockAfter?.Until);
        }
        catch (DirectoryOperationException e)
        {
            // Codes such as 53 (unwilling) or 34 (invalid DN) come without a response: a refusal, not an outage.
            LogBindRefused(_logger, username.Value, e.Message);
            return new DirectoryAuthentication.Refused(SignInRefusal.InvalidCredentials);
        }
        catch (LdapException e)
        {
            throw new DirectoryUnavailableException($"LDAP bind failed: {e.Message} ({e.ErrorCode})", e);
        }
        var user = await _service.RunAsync(service => ToUser(service, username, entry), cancellationToken).ConfigureAwait(false);
        return new DirectoryAuthentication.Succeeded(user);
    }

    private DirectoryUser ToUser(LdapConnection service, Username username, SearchResultEntry entry)
    {
        var displayName = Value(entry, "displayName") ?? Value(entry, "cn") ?? username.Value;
        EmailAddress.TryParse(Value(entry, "mail"), out var email);
        int? uidNumber = int.TryParse(Value(entry, "uidNumber"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        var mustChange = string.Equals(Value(entry, "pwdReset"), "TRUE", StringComparison.OrdinalIgnoreCase);
        return new DirectoryUser(username, entry.DistinguishedName, displayName, email, uidNumber,
            RoleOf(service, entry.DistinguishedName), mustChange);
    }

    /// <summary>Role from group membership, read from the groups themselves (no memberOf overlay needed).</summary>
    private Role RoleOf(LdapConnection service, string userDn)
    {
        var filter = $"(&(objectClass=groupOfNames)(member={LdapEscaping.FilterValue(userDn)})" +
                     $"(|(cn={LdapEscaping.FilterValue(_options.AdminGroup)})(cn={LdapEscaping.FilterValue(_options.StaffGroup)})))";
        var response = Send<SearchResponse>(service,
            new SearchRequest($"{_options.GroupsRdn},{_options.BaseDn}", filter, SearchScope.OneLevel, "cn"));
        var groups = response.Entries.Cast<SearchResultEntry>().Select(e => Value(e, "cn")).ToHashSet(StringComparer.OrdinalIgnoreCase);
        return groups.Contains(_options.AdminGroup) ? Role.Admin
            : groups.Contains(_options.StaffGroup) ? Role.Staff
            : Role.Student;
    }

    private SearchResultEntry? FindSingleEntry(LdapConnection service, string uid)
    {
        var entries = Search(service, uid, UserAttributes);
        if (entries.Count > 1)
        {
            // The unique overlay should make this impossible; refuse rather than guess whose password to check.
            LogAmbiguousUid(_logger, uid, entries.Count);
            return null;
        }
        return entries.Count == 1 ? entries[0] : null;
    }

    private List<SearchResultEntry> Search(LdapConnection service, string uid, string[] attributes)
    {
        var filter = $"(&(objectClass=inetOrgPerson)(uid={LdapEscaping.FilterValue(uid)}))";
        var request = new SearchRequest(_options.PeopleDn, filter, SearchScope.Subtree, attributes) { SizeLimit = 2 };
        try
        {
            return [.. Send<SearchResponse>(service, request).Entries.Cast<SearchResultEntry>()];
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.SizeLimitExceeded)
        {
            return [.. e.Response is SearchResponse partial ? partial.Entries.Cast<SearchResultEntry>() : []];
        }
    }

    private static string? Value(SearchResultEntry entry, string attribute)
    {
        var values = entry.Attributes[attribute]?.GetValues(typeof(string));
        return values is { Length: > 0 } ? (string)values[0] : null;
    }

    private TResponse Send<TResponse>(LdapConnection connection, DirectoryRequest request) where TResponse : DirectoryResponse
    {
        try
        {
            return (TResponse)connection.SendRequest(request, TimeSpan.FromSeconds(_options.TimeoutSeconds));
        }
        catch (LdapException e)
        {
            throw new DirectoryUnavailableException($"LDAP request failed: {e.Message} ({e.ErrorCode})", e);
        }
    }

    /// <summary>A new connection bound as the service account: only <see cref="_service"/> opens them, and keeps them.</summary>
    private LdapConnection ConnectAsService()
    {
        try
        {
            return ConnectAndBind(new NetworkCredential(_options.ServiceDn, _options.ServicePassword));
        }
        catch (Exception e) when (e is LdapException or DirectoryOperationException)
        {
            throw new DirectoryUnavailableException(
                $"The portal's LDAP service account could not bind to {Endpoint}: {e.Message}", e);
        }
    }

    /// <summary>
    /// A new connection bound as a person, for that person's own operation; the caller disposes it. It never reaches
    /// <see cref="_service"/> (which cannot take a connection it did not open), so no later service-account operation
    /// can run with the person's identity. Throws the library's exceptions as they are: a refused bind (49) is an answer
    /// here, not an outage.
    /// </summary>
    private LdapConnection ConnectAsPerson(string dn, string password) => ConnectAndBind(new NetworkCredential(dn, password));

    /// <summary>Tries at setting up a connection that the server drops or refuses at once: the first and two more.</summary>
    private const int ConnectAttempts = 3;

    /// <summary>A setup that failed faster than this was refused or dropped, not timed out.</summary>
    private static readonly TimeSpan QuickFailure = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A new connection, protected as configured and bound with <paramref name="credential"/>. A connection that the
    /// server drops or refuses at once while it is being set up (81 server down, 91 connect error, seen now and then
    /// under load on a busy slapd) is set up again at once, twice at most: one dropped connection must not fail a sign-in
    /// or a job step. Each try is a new connection, so there is nothing to wait for between them. A setup that timed out
    /// is not repeated (the time is already spent), nor a refused credential (49).
    /// Binding has no effect beyond the connection, with one exception: when the connection breaks after the server
    /// took a wrong password and before its answer arrived, ppolicy may count that failure twice.
    /// </summary>
    private LdapConnection ConnectAndBind(NetworkCredential credential)
    {
        for (var attempt = 1; ; attempt++)
        {
            var started = Stopwatch.GetTimestamp();
            var connection = Connect();
            try
            {
                Bind(connection, credential);
                return connection;
            }
            catch (Exception e) when (attempt < ConnectAttempts && IsConnectionLost(e) && Stopwatch.GetElapsedTime(started) < QuickFailure)
            {
                connection.Dispose();
                LogReconnecting(_logger, Endpoint, attempt, Describe(e.InnerException ?? e));
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }
    }

    private static bool IsConnectionLost(Exception e) =>
        (e as LdapException ?? e.InnerException as LdapException)?.ErrorCode is ServerDown or ConnectError;

    private const int ServerDown = 81;

    private const int ConnectError = 91;

    /// <summary>Where the portal connects, as a URI, e.g. <c>ldap://127.0.0.1:389 (StartTLS)</c>.</summary>
    private string Endpoint => _options.Security switch
    {
        LdapSecurity.Ldaps => $"ldaps://{_options.Host}:{_options.EffectivePort}",
        LdapSecurity.StartTls => $"ldap://{_options.Host}:{_options.EffectivePort} (StartTLS)",
        LdapSecurity.None => $"ldap://{_options.Host}:{_options.EffectivePort} (no TLS)",
        _ => throw new InvalidOperationException($"Unknown Ldap:Security {_options.Security}."),
    };

    private LdapConnection Connect()
    {
        var connection = new LdapConnection(new LdapDirectoryIdentifier(_options.Host, _options.EffectivePort))
        {
            AuthType = AuthType.Basic,
            Timeout = TimeSpan.FromSeconds(_options.TimeoutSeconds),
        };
        try
        {
            connection.SessionOptions.ProtocolVersion = 3;
            connection.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
            if (_options.Security != LdapSecurity.None && _options.TrustedCertificatesDirectory is { Length: > 0 } trusted)
            {
                // A TLS context of this connection's own that trusts the folder's CAs; libldap verifies the server's
                // certificate and name (TLS_REQCERT demand, its default) during the handshake.
                connection.SessionOptions.TrustedCertificatesDirectory = trusted;
                connection.SessionOptions.StartNewTlsSessionContext();
            }
            if (_options.Security == LdapSecurity.Ldaps)
            {
                connection.SessionOptions.SecureSocketLayer = true;
            }
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Binds with <paramref name="credential"/>, but only once the connection is protected as configured: the TLS session
    /// is set up by an anonymous bind first (nothing secret is sent; on Linux only a bind connects the handle, and
    /// StartTLS needs a connected one: shared/reference/ldap.md §3.9), and when that fails, the credential is never sent.
    /// </summary>
    /// <exception cref="DirectoryUnavailableException">TLS could not be set up: the server offers no StartTLS,
    /// its certificate is not trusted or does not name the host, or it is not reachable.</exception>
    private void Bind(LdapConnection connection, NetworkCredential credential)
    {
        if (_options.Security != LdapSecurity.None)
        {
            connection.AuthType = AuthType.Anonymous;
            try
            {
                connection.Bind();
            }
            catch (Exception e) when (e is LdapException or DirectoryOperationException)
            {
                throw new DirectoryUnavailableException(_options.Security == LdapSecurity.Ldaps
                    ? $"No TLS connection to {Endpoint} (unreachable, or its certificate is not trusted for {_options.Host}); no credential was sent: {Describe(e)}"
                    : $"No connection to {Endpoint}; no credential was sent: {Describe(e)}", e);
            }
            if (_options.Security == LdapSecurity.StartTls)
            {
                try
                {
                    connection.SessionOptions.StartTransportLayerSecurity(null);
                }
                catch (Exception e) when (e is LdapException or DirectoryOperationException)
                {
                    throw new DirectoryUnavailableException(
                        $"StartTLS with {Endpoint} failed (the server offers no TLS, or its certificate is not trusted for {_options.Host}); " +
                        $"no credential was sent: {Describe(e)}", e);
                }
            }
            connection.AuthType = AuthType.Basic;
        }
        connection.Bind(credential);
    }

    internal static string Describe(Exception e) => e switch
    {
        LdapException ldap => $"{ldap.Message} ({ldap.ErrorCode}{(string.IsNullOrEmpty(ldap.ServerErrorMessage) ? "" : $", {ldap.ServerErrorMessage}")})",
        DirectoryOperationException { Response: { } response } => $"{response.ResultCode} {response.ErrorMessage}",
        _ => e.Message,
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "More than one LDAP entry has uid {Uid} ({Count}); sign-in refused")]
    private static partial void LogAmbiguousUid(ILogger logger, string uid, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LDAP connection to {Endpoint} lost while it was set up (attempt {Attempt}): {Reason}; connecting again")]
    private static partial void LogReconnecting(ILogger logger, string endpoint, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LDAP bind for {Uid} refused: {Reason}")]
    private static partial void LogBindRefused(ILogger logger, string uid, string reason);
}
