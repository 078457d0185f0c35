using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Onboarding;

/// <summary>What the directory needs to know to create a person's entry.</summary>
public sealed record NewPerson(Username Username, string FullName, EmailAddress Email, int UidNumber, string AffiliationId);

/// <summary>The username exists in the directory for somebody else; provisioning cannot go on without a person deciding.</summary>
public sealed class DirectoryConflictException(string message) : DomainException(message);

/// <summary>
/// The directory operations of provisioning. Each is idempotent, so a provisioning run killed after any step
/// finishes correctly when it runs again.
/// </summary>
public interface IDirectoryProvisioning
{
    Task<bool> UsernameExistsAsync(Username username, CancellationToken cancellationToken);

    /// <summary>The uid of an entry whose email address (<c>mail</c>, compared without case) is this one, or null.</summary>
    /// <remarks>One person, one account: an application or import row with this address is somebody who has an account.</remarks>
    Task<string?> UidWithEmailAsync(EmailAddress email, CancellationToken cancellationToken);

    /// <summary>Creates the entry, or accepts the one an earlier attempt created (same uidNumber).</summary>
    /// <exception cref="DirectoryConflictException">The username belongs to another entry.</exception>
    Task EnsurePersonAsync(NewPerson person, CancellationToken cancellationToken);

    /// <summary>Sets the password as the service account (an administrator's reset), which marks it <c>pwdReset</c>.</summary>
    Task SetInitialPasswordAsync(Username username, string password, CancellationToken cancellationToken);

    /// <summary>Adds the person to the students' posix group; already a member is success.</summary>
    Task EnsureInStudentsGroupAsync(Username username, CancellationToken cancellationToken);
}
