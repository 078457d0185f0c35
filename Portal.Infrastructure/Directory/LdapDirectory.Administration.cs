using System.DirectoryServices.Protocols;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// User administration in the directory: the ppolicy lock, role groups and an admin's password reset. Each operation
/// is idempotent, so the per-user administration job may repeat it (see shared/reference/ldap.md §3.6 for the lock).
/// </summary>
public sealed partial class LdapDirectory : IDirectoryAdministration
{
    /// <summary>ppolicy's value for "locked until an administrator unlocks it".</summary>
    public const string PermanentLock = "000001010000Z";

    private static readonly string[] AdministrationAttributes =
    [
        "uid", "cn", "sn", "givenName", "displayName", "mail", "uidNumber", "gidNumber", "homeDirectory", "loginShell",
        "employeeNumber", "pwdReset", "pwdAccountLockedTime", "pwdChangedTime", "pwdFailureTime", "pwdPolicySubentry",
        "createTimestamp", "modifyTimestamp",
    ];

    public Task<IReadOnlyDictionary<string, IReadOnlyList<string>>?> ReadAttributesAsync(Username username, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            var entries = Search(service, username.Value, AdministrationAttributes);
            if (entries.Count != 1)
            {
                return null;
            }
            var result = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
            foreach (var name in AdministrationAttributes)
            {
                if (entries[0].Attributes[name]?.GetValues(typeof(string)) is { Length: > 0 } values)
                {
                    result[name] = [.. values.Cast<string>()];
                }
            }
            result["memberOf (portal groups)"] = [.. GroupsOf(service, entries[0].DistinguishedName)];
            return (IReadOnlyDictionary<string, IReadOnlyList<string>>?)result;
        }, cancellationToken);

    public Task SetLockedAsync(Username username, bool locked, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            var entry = FindSingleEntry(service, username.Value)
                ?? throw new DirectoryUnavailableException($"The directory has no single entry for {username}.");
            var current = Value(entry, "pwdAccountLockedTime");
            if (locked && current != PermanentLock)
            {
                Send<ModifyResponse>(service, new ModifyRequest(entry.DistinguishedName,
                    DirectoryAttributeOperation.Replace, "pwdAccountLockedTime", PermanentLock));
            }
            else if (!locked && current is not null)
            {
                try
                {
                    Send<ModifyResponse>(service, new ModifyRequest(entry.DistinguishedName,
                        DirectoryAttributeOperation.Delete, "pwdAccountLockedTime"));
                }
                catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchAttribute)
                {
                    // Removed meanwhile (another run, or the lockout expired).
                }
            }
        }, cancellationToken);

    public Task SetRoleAsync(Username username, Role role, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            var entry = FindSingleEntry(service, username.Value)
                ?? throw new DirectoryUnavailableException($"The directory has no single entry for {username}.");
            var dn = entry.DistinguishedName;
            var (admin, staff) = role switch
            {
                Role.Admin => (true, false),
                Role.Staff => (false, true),
                Role.Student => (false, false),
                _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
            };
            // Add before remove: a promotion from staff to admin never passes through "no group at all".
            if (admin)
            {
                EnsureMember(service, _options.AdminGroup, dn, member: true);
            }
            if (staff)
            {
                EnsureMember(service, _options.StaffGroup, dn, member: true);
            }
            if (!admin)
            {
                EnsureMember(service, _options.AdminGroup, dn, member: false);
            }
            if (!staff)
            {
                EnsureMember(service, _options.StaffGroup, dn, member: false);
            }
        }, cancellationToken);

    public Task ResetPasswordAsync(Username username, string password, CancellationToken cancellationToken) =>
        // The same modification as a new account's initial password: userPassword and pwdReset: TRUE, replaced.
        SetInitialPasswordAsync(username, password, cancellationToken);

    private void EnsureMember(LdapConnection service, string group, string dn, bool member)
    {
        try
        {
            Send<ModifyResponse>(service, new ModifyRequest(_options.GroupDn(group),
                member ? DirectoryAttributeOperation.Add : DirectoryAttributeOperation.Delete, "member", dn));
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode is ResultCode.AttributeOrValueExists or ResultCode.NoSuchAttribute)
        {
            // Already a member (or already not one): an earlier run did it.
        }
    }

    private List<string> GroupsOf(LdapConnection service, string userDn)
    {
        var filter = $"(&(objectClass=groupOfNames)(member={LdapEscaping.FilterValue(userDn)}))";
        var response = Send<SearchResponse>(service,
            new SearchRequest($"{_options.GroupsRdn},{_options.BaseDn}", filter, SearchScope.OneLevel, "cn"));
        return [.. response.Entries.Cast<SearchResultEntry>().Select(e => Value(e, "cn") ?? e.DistinguishedName).Order(StringComparer.Ordinal)];
    }
}
