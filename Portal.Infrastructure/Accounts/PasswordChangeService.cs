using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Accounts;

/// <summary>The outcome of a person's request to change their password; a closed set of results, each with its reason.</summary>
public abstract record PasswordChangeResult
{
    private PasswordChangeResult()
    {
    }

    /// <summary>Changed in the directory; <paramref name="Account"/> is the updated record (no longer must change).</summary>
    public sealed record Changed(Account Account) : PasswordChangeResult;

    /// <summary>The current or the new password was left empty; nothing was asked.</summary>
    public sealed record Incomplete : PasswordChangeResult;

    /// <summary>The portal's policy refused the new password; the directory was not asked.</summary>
    public sealed record Rejected(PasswordRejection Reason) : PasswordChangeResult;

    /// <summary>The current password was wrong; counted as a failure by the throttle.</summary>
    public sealed record WrongCurrentPassword : PasswordChangeResult;

    /// <summary>The directory refused the new password (for example one used recently).</summary>
    public sealed record RejectedByDirectory(DirectoryPasswordRejection Reason) : PasswordChangeResult;

    /// <summary>Too many recent failures; the directory was not asked. Try again after <paramref name="RetryAfter"/>.</summary>
    public sealed record Throttled(TimeSpan RetryAfter) : PasswordChangeResult;

    public sealed record DirectoryUnavailable : PasswordChangeResult;
}

/// <summary>
/// Self-service password change: the portal's policy first (no directory call for a password it would refuse),
/// then the throttle, then the directory as the person. On success the account record drops its must-change mark
/// and the change is audited; a wrong current password counts against the throttle like a failed sign-in.
/// Passwords are never logged or audited.
/// </summary>
public sealed partial class PasswordChangeService(
    PasswordPolicy policy,
    IPasswordChanger changer,
    IDirectory directory,
    SignInThrottle throttle,
    IDbContextFactory<PortalDbContext> contexts,
    AuditLog audit,
    TimeProvider clock,
    ILogger<PasswordChangeService> logger)
{
    public const string ChangedAction = "account.password-changed";
    public const string RefusedAction = "account.password-change-refused";

    public PasswordPolicy Policy => policy;

    public async Task<PasswordChangeResult> ChangeAsync(Username username, string? currentPassword, string? newPassword,
        string? sourceAddress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(username);
        if (string.IsNullOrEmpty(currentPassword) || string.IsNullOrEmpty(newPassword))
        {
            return new PasswordChangeResult.Incomplete();
        }

        string? displayName;
        try
        {
            displayName = await DisplayNameAsync(username, cancellationToken);
        }
        catch (DirectoryUnavailableException e)
        {
            LogDirectoryUnavailable(logger, username.Value, e.Message);
            return new PasswordChangeResult.DirectoryUnavailable();
        }
        if (policy.Check(newPassword, username, displayName, currentPassword) is PasswordVerdict.Rejected rejected)
        {
            return new PasswordChangeResult.Rejected(rejected.Reason);
        }

        var decision = await throttle.CheckAsync(username, sourceAddress, cancellationToken);
        if (!decision.IsAllowed)
        {
            return new PasswordChangeResult.Throttled(decision.RetryAfter);
        }

        var actor = new AuditActor(username.Value, sourceAddress);
        PasswordChangeOutcome outcome;
        try
        {
            outcome = await changer.ChangePasswordAsync(username, currentPassword, newPassword, cancellationToken);
        }
        catch (DirectoryUnavailableException e)
        {
            LogDirectoryUnavailable(logger, username.Value, e.Message);
            return new PasswordChangeResult.DirectoryUnavailable();
        }

        switch (outcome)
        {
            case PasswordChangeOutcome.Changed:
                var (account, wasForced) = await RecordChangeAsync(username, cancellationToken);
                await throttle.ClearAsync(username, cancellationToken);
                await audit.RecordAsync(actor, ChangedAction, username.Value, new { forced = wasForced }, cancellationToken);
                return new PasswordChangeResult.Changed(account);
            case PasswordChangeOutcome.WrongCurrentPassword:
                await throttle.RecordFailureAsync(username, sourceAddress, cancellationToken);
                await audit.RecordAsync(actor, RefusedAction, username.Value, new { reason = "WrongCurrentPassword" }, cancellationToken);
                return new PasswordChangeResult.WrongCurrentPassword();
            case PasswordChangeOutcome.RejectedByDirectory byDirectory:
                await audit.RecordAsync(actor, RefusedAction, username.Value,
                    new { reason = "RejectedByDirectory", directoryReason = byDirectory.Reason.ToString() }, cancellationToken);
                return new PasswordChangeResult.RejectedByDirectory(byDirectory.Reason);
            default:
                throw new InvalidOperationException($"Unknown password change outcome {outcome.GetType().Name}.");
        }
    }

    /// <summary>The name the policy keeps out of the password: the account record's, else the directory's.</summary>
    private async Task<string?> DisplayNameAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var stored = await db.Accounts.AsNoTracking().Where(a => a.Username == username).Select(a => a.DisplayName)
            .SingleOrDefaultAsync(cancellationToken);
        return stored ?? (await directory.FindUserAsync(username, cancellationToken))?.DisplayName;
    }

    private async Task<(Account Account, bool WasForced)> RecordChangeAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var account = await db.Accounts.SingleOrDefaultAsync(a => a.Username == username, cancellationToken);
        if (account is null)
        {
            // Signed in without a record (it is made at sign-in, so only if it was removed since): make it from LDAP.
            var user = await directory.FindUserAsync(username, cancellationToken)
                ?? throw new InvalidOperationException($"Directory entry of {username} vanished after its password was changed.");
            account = Account.FromDirectory(user, clock.GetUtcNow());
            db.Accounts.Add(account);
        }
        var wasForced = account.MustChangePassword;
        account.PasswordChanged();
        await db.SaveChangesAsync(cancellationToken);
        return (account, wasForced);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Password change of {Uid} unavailable: {Reason}")]
    private static partial void LogDirectoryUnavailable(ILogger logger, string uid, string reason);
}
