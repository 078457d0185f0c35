namespace Portal.Domain.Accounts;

/// <summary>A person as the directory (LDAP) knows them.</summary>
public sealed record DirectoryUser(
    Username Username,
    string DistinguishedName,
    string DisplayName,
    EmailAddress? Email,
    int? UidNumber,
    Role Role,
    bool MustChangePassword);

/// <summary>Why the directory refused a sign-in; the audit log keeps the reason.</summary>
public enum SignInRefusal
{
    /// <summary>Unknown user or wrong password: deliberately one answer.</summary>
    InvalidCredentials,

    /// <summary>The entry was locked before the attempt, so the password was not tried.</summary>
    Locked,
}

/// <summary>
/// The directory's lock on an entry (ppolicy's <c>pwdAccountLockedTime</c>): after too many failures until
/// <paramref name="Until"/>, or, when that is null, until an administrator unlocks it.
/// </summary>
public sealed record DirectoryLock(DateTimeOffset? Until);

/// <summary>The outcome of checking a password against the directory; a closed set of results.</summary>
public abstract record DirectoryAuthentication
{
    private DirectoryAuthentication()
    {
    }

    public sealed record Succeeded(DirectoryUser User) : DirectoryAuthentication;

    /// <param name="Reason">Why.</param>
    /// <param name="LockedUntil">For <see cref="SignInRefusal.Locked"/>: when the lock ends (null: when an administrator
    /// lifts it). For <see cref="SignInRefusal.InvalidCredentials"/>: set when this very failure made the directory lock
    /// the entry, until then.</param>
    public sealed record Refused(SignInRefusal Reason, DateTimeOffset? LockedUntil = null) : DirectoryAuthentication;
}

/// <summary>The directory could not be reached or answered with an unexpected error.</summary>
public sealed class DirectoryUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The port to LDAP. Implementations never put unescaped input into a filter or DN.</summary>
public interface IDirectory
{
    /// <summary>Finds the user's entry with the service account, then binds as the user.</summary>
    /// <exception cref="ArgumentException">The password is empty: refused before the directory is asked.</exception>
    /// <exception cref="DirectoryUnavailableException">The directory did not answer.</exception>
    Task<DirectoryAuthentication> AuthenticateAsync(Username username, string password, CancellationToken cancellationToken);

    /// <summary>The lock on the user's entry, or null when it is not locked (or there is no entry).</summary>
    /// <exception cref="DirectoryUnavailableException">The directory did not answer.</exception>
    Task<DirectoryLock?> FindLockAsync(Username username, CancellationToken cancellationToken);

    /// <summary>The user's entry, or null when there is none.</summary>
    Task<DirectoryUser?> FindUserAsync(Username username, CancellationToken cancellationToken);

    /// <summary>Binds as the service account; throws <see cref="DirectoryUnavailableException"/> when that fails.</summary>
    Task CheckAvailableAsync(CancellationToken cancellationToken);
}
