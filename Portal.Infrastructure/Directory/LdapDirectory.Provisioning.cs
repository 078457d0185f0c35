using System.DirectoryServices.Protocols;
using System.Globalization;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;

namespace Portal.Infrastructure.Directory;

/// <summary>The provisioning side of the directory: each operation is idempotent (docs/decisions/0007-provisioning.md).</summary>
public sealed partial class LdapDirectory : IDirectoryProvisioning
{
    public Task<bool> UsernameExistsAsync(Username username, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            return Search(service, username.Value, ["uid"]).Count > 0;
        }, cancellationToken);

    public Task EnsurePersonAsync(NewPerson person, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            if (AcceptExisting(service, person))
            {
                return;
            }
            var gid = StudentsGid(service);
            var name = person.FullName.Trim();
            var surname = name.Contains(' ', StringComparison.Ordinal) ? name[(name.LastIndexOf(' ') + 1)..] : name;
            var request = new AddRequest(PersonDn(person.Username),
                new DirectoryAttribute("objectClass", "inetOrgPerson", "posixAccount", "shadowAccount"),
                new DirectoryAttribute("uid", person.Username.Value),
                new DirectoryAttribute("cn", name),
                new DirectoryAttribute("sn", surname),
                new DirectoryAttribute("displayName", name),
                new DirectoryAttribute("mail", person.Email.Value),
                new DirectoryAttribute("employeeNumber", person.AffiliationId),
                new DirectoryAttribute("uidNumber", person.UidNumber.ToString(CultureInfo.InvariantCulture)),
                new DirectoryAttribute("gidNumber", gid),
                new DirectoryAttribute("homeDirectory", $"{_options.HomeRoot.TrimEnd('/')}/{person.Username.Value}"),
                new DirectoryAttribute("loginShell", _options.LoginShell));
            try
            {
                Send<AddResponse>(service, request);
            }
            catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.EntryAlreadyExists)
            {
                // Another attempt added it between our search and our add.
                if (!AcceptExisting(service, person))
                {
                    throw new DirectoryConflictException($"The username {person.Username} was taken in the directory meanwhile.");
                }
            }
            catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.ConstraintViolation)
            {
                // The unique overlay: the email address or uidNumber already belongs to another entry.
                throw new DirectoryConflictException(
                    $"The directory refused the entry for {person.Username}: {e.Response.ErrorMessage}. If it names uidNumber, the directory " +
                    "already uses numbers from the portal's range: move the uid_numbers sequence past them (README, 'Provisioning').");
            }
        }, cancellationToken);

    public Task SetInitialPasswordAsync(Username username, string password, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        return _service.RunAsync(service =>
        {
            // An administrator's reset: the person must change it at first sign-in.
            var newPassword = new DirectoryAttributeModification { Name = "userPassword", Operation = DirectoryAttributeOperation.Replace };
            newPassword.Add(PasswordText.Normalize(password));
            var mustChange = new DirectoryAttributeModification { Name = "pwdReset", Operation = DirectoryAttributeOperation.Replace };
            mustChange.Add("TRUE");
            Send<ModifyResponse>(service, new ModifyRequest(PersonDn(username), newPassword, mustChange));
        }, cancellationToken);
    }

    public Task EnsureInStudentsGroupAsync(Username username, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            try
            {
                Send<ModifyResponse>(service, new ModifyRequest(_options.GroupDn(_options.StudentsGroup),
                    DirectoryAttributeOperation.Add, "memberUid", username.Value));
            }
            catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.AttributeOrValueExists)
            {
                // Already a member: the step was done by an earlier attempt.
            }
        }, cancellationToken);

    private string PersonDn(Username username) => $"uid={LdapEscaping.DnValue(username.Value)},{_options.PeopleDn}";

    /// <summary>True when the entry exists and is this person's (same uidNumber); throws when it is someone else's.</summary>
    private bool AcceptExisting(LdapConnection service, NewPerson person)
    {
        var existing = Search(service, person.Username.Value, ["uid", "uidNumber"]);
        if (existing.Count == 0)
        {
            return false;
        }
        var uidNumber = Value(existing[0], "uidNumber");
        if (uidNumber == person.UidNumber.ToString(CultureInfo.InvariantCulture))
        {
            return true;
        }
        throw new DirectoryConflictException(
            $"The username {person.Username} already belongs to another directory entry (uidNumber {uidNumber}).");
    }

    private string StudentsGid(LdapConnection service)
    {
        var response = Send<SearchResponse>(service,
            new SearchRequest(_options.GroupDn(_options.StudentsGroup), "(objectClass=posixGroup)", SearchScope.Base, "gidNumber"));
        return response.Entries.Count == 1 && Value(response.Entries[0], "gidNumber") is { } gid
            ? gid
            : throw new DirectoryUnavailableException($"The group {_options.GroupDn(_options.StudentsGroup)} has no gidNumber.");
    }
}
