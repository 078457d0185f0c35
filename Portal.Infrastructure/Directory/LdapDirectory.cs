using System.DirectoryServices.Protocols;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// <see cref="IDirectory"/> over OpenLDAP with System.DirectoryServices.Protocols. The library is synchronous,
/// so each call runs on the thread pool with its own short-lived connection (a connect and bind costs ~0.3 ms
/// on loopback; see shared/reference/ldap.md).
/// </summary>
public sealed partial class LdapDirectory(IOptions<LdapOptions> options, ILogger<LdapDirectory> logger) : IDirectory
{
    private static readonly string[] UserAttributes =
        ["uid", "cn", "displayName", "mail", "uidNumber", "pwdReset", "pwdAccountLockedTime"];

    private readonly LdapOptions _options = options.Value;

    public Task<DirectoryAuthentication> AuthenticateAsync(Username username, string password, CancellationToken cancellationToken)
    {
        // An empty password is an unauthenticated bind, which some servers treat as anonymous success.
        if (string.IsNullOrEmpty(password))
        {
            throw new ArgumentException("A password is required.", nameof(password));
        }
        return Task.Run(() => Authenticate(username, password), cancellationToken);
    }

    public Task<DirectoryUser?> FindUserAsync(Username username, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            using var service = ConnectAsService();
            var entry = FindSingleEntry(service, username.Value);
            return entry is null ? null : ToUser(service, username, entry);
        }, cancellationToken);

    public Task CheckAvailableAsync(CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            using var service = ConnectAsService();
        }, cancellationToken);

    /// <summary>
    /// Distinguished names of the people whose <c>uid</c> equals <paramref name="uid"/> exactly. The value is escaped
    /// here, so wildcards and filter metacharacters in it match nothing but themselves.
    /// </summary>
    public IReadOnlyList<string> FindDistinguishedNames(string uid)
    {
        using var service = ConnectAsService();
        return [.. Search(service, uid, ["uid"]).Select(e => e.DistinguishedName)];
    }

    private DirectoryAuthentication Authenticate(Username username, string password)
    {
        using var service = ConnectAsService();
        var entry = FindSingleEntry(service, username.Value);
        if (entry is null)
        {
            return new DirectoryAuthentication.Refused(SignInRefusal.InvalidCredentials);
        }

        using (var connection = Connect())
        {
            try
            {
                Bind(connection, new NetworkCredential(entry.DistinguishedName, password));
            }
            catch (LdapException e) when (e.ErrorCode == 49)
            {
                // Wrong password, locked and disabled all answer 49; only the service account can tell them apart.
                var locked = FindSingleEntry(service, username.Value) is { } now && Value(now, "pwdAccountLockedTime") is not null;
                return new DirectoryAuthentication.Refused(locked ? SignInRefusal.Locked : SignInRefusal.InvalidCredentials);
            }
            catch (DirectoryOperationException e)
            {
                // Codes such as 53 (unwilling) or 34 (invalid DN) come without a response: a refusal, not an outage.
                LogBindRefused(logger, username.Value, e.Message);
                return new DirectoryAuthentication.Refused(SignInRefusal.InvalidCredentials);
            }
            catch (LdapException e)
            {
                throw new DirectoryUnavailableException($"LDAP bind failed: {e.Message} ({e.ErrorCode})", e);
            }
        }
        return new DirectoryAuthentication.Succeeded(ToUser(service, username, entry));
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
            LogAmbiguousUid(logger, uid, entries.Count);
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

    private LdapConnection ConnectAsService()
    {
        var connection = Connect();
        try
        {
            Bind(connection, new NetworkCredential(_options.ServiceDn, _options.ServicePassword));
            return connection;
        }
        catch (Exception e) when (e is LdapException or DirectoryOperationException)
        {
            connection.Dispose();
            throw new DirectoryUnavailableException(
                $"The portal's LDAP service account could not bind to {_options.Host}:{_options.Port}: {e.Message}", e);
        }
    }

    private LdapConnection Connect()
    {
        var connection = new LdapConnection(new LdapDirectoryIdentifier(_options.Host, _options.Port))
        {
            AuthType = AuthType.Basic,
            Timeout = TimeSpan.FromSeconds(_options.TimeoutSeconds),
        };
        connection.SessionOptions.ProtocolVersion = 3;
        connection.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
        return connection;
    }

    private void Bind(LdapConnection connection, NetworkCredential credential)
    {
        if (_options.UseStartTls)
        {
            // On Linux StartTLS needs a connected handle, and only a bind connects it: bind anonymously first
            // (nothing secret is sent), upgrade, then bind with the credential (shared/reference/ldap.md §3.9).
            connection.AuthType = AuthType.Anonymous;
            connection.Bind();
            connection.SessionOptions.StartTransportLayerSecurity(null);
            connection.AuthType = AuthType.Basic;
        }
        connection.Bind(credential);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "More than one LDAP entry has uid {Uid} ({Count}); sign-in refused")]
    private static partial void LogAmbiguousUid(ILogger logger, string uid, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LDAP bind for {Uid} refused: {Reason}")]
    private static partial void LogBindRefused(ILogger logger, string uid, string reason);
}
