using Portal.Domain.Common;

namespace Portal.Domain.Accounts;

/// <summary>
/// The portal's view of an LDAP user. LDAP stays the source of truth for credentials and group membership;
/// this record keeps what the portal needs to list, search and act on people without asking LDAP each time.
/// </summary>
public sealed class Account
{
    private Account(Guid id, Username username, string displayName, EmailAddress? email, Role role, DateTimeOffset createdAt)
    {
        Id = id;
        Username = username;
        DisplayName = displayName;
        Email = email;
        Role = role;
        Status = AccountStatus.Active;
        CreatedAt = createdAt;
    }

    public Guid Id { get; private set; }
    public Username Username { get; private set; }
    public string DisplayName { get; private set; }
    public EmailAddress? Email { get; private set; }
    public int? UidNumber { get; private set; }
    public Role Role { get; private set; }
    public AccountStatus Status { get; private set; }
    public bool MustChangePassword { get; private set; }
    public int? AcceptedTermsVersion { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset? LastSignInAt { get; private set; }
    public string? Department { get; private set; }

    /// <summary>The application this account was provisioned from, if any.</summary>
    public Guid? ApplicationId { get; private set; }

    /// <summary>First sight of a directory user, usually at their first sign-in.</summary>
    public static Account FromDirectory(DirectoryUser user, DateTimeOffset at)
    {
        var account = new Account(Guid.NewGuid(), user.Username, user.DisplayName, user.Email, user.Role, at);
        account.SyncFrom(user);
        return account;
    }

    /// <summary>An account provisioned from an approved application: a student who must change the initial password.</summary>
    public static Account Provisioned(Guid applicationId, Username username, string fullName, EmailAddress email,
        string department, int uidNumber, DateTimeOffset at) =>
        new(Guid.NewGuid(), username, fullName, email, Role.Student, at)
        {
            Department = department,
            ApplicationId = applicationId,
            UidNumber = uidNumber,
            MustChangePassword = true,
        };

    /// <summary>The person changed their password in LDAP; nothing else is asked of them for it.</summary>
    public void PasswordChanged() => MustChangePassword = false;

    /// <summary>The person accepted a version of the terms; accepting an older one than before is refused.</summary>
    public void AcceptTerms(int version)
    {
        if (version < 1 || version < (AcceptedTermsVersion ?? 0))
        {
            throw new DomainException($"Terms version {version} is older than the accepted version {AcceptedTermsVersion}.");
        }
        AcceptedTermsVersion = version;
    }

    /// <summary>A successful bind: refresh what LDAP says and note the time.</summary>
    public void RecordSignIn(DirectoryUser user, DateTimeOffset at)
    {
        if (user.Username != Username)
        {
            throw new DomainException($"Directory entry {user.Username} does not belong to account {Username}.");
        }
        if (Status == AccountStatus.Suspended)
        {
            throw new DomainException($"Account {Username} is suspended.");
        }
        SyncFrom(user);
        LastSignInAt = at;
    }

    public const int SuspensionReasonMax = 500;

    /// <summary>
    /// Why the account is suspended; shown to the person when sign-in is refused. Null while active: the audit log
    /// (admin.user.suspend) keeps every past suspension's reason.
    /// </summary>
    public string? SuspensionReason { get; private set; }

    /// <summary>Who suspended the account, while it is suspended.</summary>
    public string? SuspendedBy { get; private set; }

    /// <summary>When the account was suspended, while it is suspended.</summary>
    public DateTimeOffset? SuspendedAt { get; private set; }

    /// <summary>What LDAP was last made to say: true once the per-user job has set <c>pwdAccountLockedTime</c>.</summary>
    public bool DirectoryLocked { get; private set; }

    /// <summary>A role change an admin asked for; <see cref="Role"/> follows once LDAP's groups are changed.</summary>
    public Role? RequestedRole { get; private set; }

    /// <summary>Since when the administration job has work to do for this account; null when LDAP is in step.</summary>
    public DateTimeOffset? AdminJobRequestedAt { get; private set; }

    public int AdminJobAttempts { get; private set; }
    public string? AdminJobError { get; private set; }

    /// <summary>True while the directory does not yet reflect the account's status or requested role.</summary>
    public bool DirectoryChangePending => AdminJobRequestedAt is not null;

    /// <summary>Suspends the account: sign-in is refused at once, and the job locks the LDAP entry.</summary>
    public void Suspend(string reason, string by, DateTimeOffset at)
    {
        if (Status != AccountStatus.Active)
        {
            throw new InvalidTransitionException(nameof(Account), Status.ToString(), nameof(AccountStatus.Suspended));
        }
        var trimmed = reason?.Trim();
        if (string.IsNullOrEmpty(trimmed) || trimmed.Length > SuspensionReasonMax)
        {
            throw new InvalidValueException(nameof(SuspensionReason), $"A suspension needs a reason of 1 to {SuspensionReasonMax} characters.");
        }
        ControlCharacters.ThrowIfContains(trimmed, ControlCharacters.Lines.Multiple, nameof(SuspensionReason), "reason");
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        Status = AccountStatus.Suspended;
        SuspensionReason = trimmed;
        SuspendedBy = by;
        SuspendedAt = at;
        RequestDirectoryChange(at);
    }

    /// <summary>
    /// Lifts a suspension; the job removes the LDAP lock. The suspension's reason, author and time go with it, so nothing
    /// shows an old reason as if it still applied; the audit log keeps them.
    /// </summary>
    public void Reinstate(DateTimeOffset at)
    {
        if (Status != AccountStatus.Suspended)
        {
            throw new InvalidTransitionException(nameof(Account), Status.ToString(), nameof(AccountStatus.Active));
        }
        Status = AccountStatus.Active;
        SuspensionReason = null;
        SuspendedBy = null;
        SuspendedAt = null;
        RequestDirectoryChange(at);
    }

    /// <summary>Asks for another role; nothing to do when it is the current one and none other is pending.</summary>
    public bool RequestRole(Role role, DateTimeOffset at)
    {
        if (role == (RequestedRole ?? Role))
        {
            return false;
        }
        RequestedRole = role == Role ? null : role;
        RequestDirectoryChange(at);
        return true;
    }

    /// <summary>The job changed LDAP's groups to the requested role.</summary>
    public void RoleApplied(Role role)
    {
        Role = role;
        if (RequestedRole == role)
        {
            RequestedRole = null;
        }
    }

    /// <summary>The job made LDAP's lock match the status.</summary>
    public void LockApplied(bool locked) => DirectoryLocked = locked;

    /// <summary>Something for the job to carry out (a reset password, a lock, a role).</summary>
    public void RequestDirectoryChange(DateTimeOffset at)
    {
        AdminJobRequestedAt = at;
        AdminJobError = null;
    }

    /// <summary>The job did everything asked up to <paramref name="requestedAt"/>; a later request stays pending.</summary>
    public void DirectoryChangeDone(DateTimeOffset requestedAt)
    {
        if (AdminJobRequestedAt is { } pending && pending <= requestedAt)
        {
            AdminJobRequestedAt = null;
        }
        AdminJobAttempts = 0;
        AdminJobError = null;
    }

    public void DirectoryChangeFailed(string error)
    {
        AdminJobAttempts++;
        AdminJobError = error.Length > 1000 ? error[..1000] : error;
    }

    private void SyncFrom(DirectoryUser user)
    {
        DisplayName = user.DisplayName;
        Email = user.Email;
        Role = user.Role;
        MustChangePassword = user.MustChangePassword;
        UidNumber = user.UidNumber ?? UidNumber;
    }
}
