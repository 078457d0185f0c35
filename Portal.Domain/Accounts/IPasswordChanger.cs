namespace Portal.Domain.Accounts;

/// <summary>Why the directory itself refused a new password that the portal's policy accepted.</summary>
public enum DirectoryPasswordRejection
{
    /// <summary>One of the person's recent passwords (the directory keeps a history).</summary>
    InHistory,

    /// <summary>The directory's own quality rules (for example its minimum length).</summary>
    Quality,

    /// <summary>Changed too recently, or another constraint the directory did not name.</summary>
    Other,
}

/// <summary>The outcome of a password change the person asked for; a closed set of results.</summary>
public abstract record PasswordChangeOutcome
{
    private PasswordChangeOutcome()
    {
    }

    /// <summary>The new password is set; the old one no longer works and a pending forced change (pwdReset) is over.</summary>
    public sealed record Changed : PasswordChangeOutcome;

    /// <summary>The current password was wrong (or the account is locked or unknown: the directory does not say which).</summary>
    public sealed record WrongCurrentPassword : PasswordChangeOutcome;

    /// <summary>
    /// The directory refused the new password. <paramref name="ServerMessage"/> is the server's text, for the log only:
    /// people see a message chosen from <paramref name="Reason"/>.
    /// </summary>
    public sealed record RejectedByDirectory(DirectoryPasswordRejection Reason, string ServerMessage) : PasswordChangeOutcome;
}

/// <summary>The port that changes a person's password in the directory, as that person.</summary>
public interface IPasswordChanger
{
    /// <summary>
    /// Proves the current password and sets the new one in one exchange with the directory. Both are normalised
    /// with <see cref="PasswordText.Normalize"/>; neither is ever logged.
    /// </summary>
    /// <exception cref="ArgumentException">A password is empty: refused before the directory is asked.</exception>
    /// <exception cref="DirectoryUnavailableException">The directory did not answer or answered with an unexpected error.</exception>
    Task<PasswordChangeOutcome> ChangePasswordAsync(Username username, string currentPassword, string newPassword, CancellationToken cancellationToken);
}
