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

    public void Suspend()
    {
        if (Status != AccountStatus.Active)
        {
            throw new InvalidTransitionException(nameof(Account), Status.ToString(), nameof(AccountStatus.Suspended));
        }
        Status = AccountStatus.Suspended;
    }

    public void Reinstate()
    {
        if (Status != AccountStatus.Suspended)
        {
            throw new InvalidTransitionException(nameof(Account), Status.ToString(), nameof(AccountStatus.Active));
        }
        Status = AccountStatus.Active;
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
