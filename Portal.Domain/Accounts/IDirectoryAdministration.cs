namespace Portal.Domain.Accounts;

/// <summary>
/// What an administrator changes in the directory. Every operation is idempotent: run twice, it leaves the entry as
/// run once (the per-user administration job may repeat any step).
/// </summary>
public interface IDirectoryAdministration
{
    /// <summary>The entry's attributes for display (passwords never included), or null when there is no entry.</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<string>>?> ReadAttributesAsync(Username username, CancellationToken cancellationToken);

    /// <summary>Locks the entry permanently (ppolicy <c>pwdAccountLockedTime: 000001010000Z</c>) or removes the lock.</summary>
    Task SetLockedAsync(Username username, bool locked, CancellationToken cancellationToken);

    /// <summary>Puts the person in exactly the groups of <paramref name="role"/> (admins and staff groups).</summary>
    Task SetRoleAsync(Username username, Role role, CancellationToken cancellationToken);

    /// <summary>Sets a password as an administrator's reset: the person must change it at the next sign-in (<c>pwdReset: TRUE</c>).</summary>
    Task ResetPasswordAsync(Username username, string password, CancellationToken cancellationToken);
}
