using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Portal.Domain.Accounts;
using Portal.Domain.Audit;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Servers;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>
/// The work of a user's administration job: makes LDAP (and the user's server) match what admins asked for in the
/// database. It reads the wish each time rather than replaying clicks, so running it twice, or after a crash half-way,
/// ends in the same state: the lock follows the status (and a suspended user's server is asked to stop), the groups
/// follow a requested role, and the newest pending reset link's password is written with <c>pwdReset: TRUE</c>.
/// </summary>
public sealed partial class UserDirectorySync(
    IDbContextFactory<PortalDbContext> contexts,
    IDirectoryAdministration directory,
    ServerService servers,
    CredentialIssuer credentials,
    TimeProvider clock,
    ILogger<UserDirectorySync> logger)
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(10);

    /// <summary>Carries out what is pending for the user; returns when to try again after a failure, else null.</summary>
    public async Task<TimeSpan?> SyncAsync(Username username, CancellationToken cancellationToken)
    {
        Domain.Accounts.Account? account;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            account = await db.Accounts.AsNoTracking().SingleOrDefaultAsync(a => a.Username == username, cancellationToken);
        }
        if (account is null)
        {
            return null;
        }
        var requestedAt = account.AdminJobRequestedAt;
        var wantLocked = account.Status == AccountStatus.Suspended;
        var role = account.RequestedRole;
        try
        {
            var done = new List<string>();
            if (wantLocked != account.DirectoryLocked)
            {
                await directory.SetLockedAsync(username, wantLocked, cancellationToken);
                done.Add(wantLocked ? "locked" : "unlocked");
            }
            if (wantLocked)
            {
                // Idempotent: a stopped (or stopping) server answers "already requested".
                var stop = await servers.StopAsync(username, account.SuspendedBy ?? AuditEvent.System, null, cancellationToken);
                if (stop == ServerRequestResult.Requested)
                {
                    done.Add("server-stop-requested");
                }
            }
            if (role is { } wanted)
            {
                await directory.SetRoleAsync(username, wanted, cancellationToken);
                done.Add($"role:{wanted}");
            }
            if (await ApplyPendingResetAsync(username, cancellationToken))
            {
                done.Add("password-reset");
            }

            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var current = await db.Accounts.SingleAsync(a => a.Username == username, cancellationToken);
            current.LockApplied(wantLocked);
            if (role is { } applied)
            {
                current.RoleApplied(applied);
            }
            if (requestedAt is { } at)
            {
                current.DirectoryChangeDone(at);
            }
            if (done.Count > 0)
            {
                AuditLog.Stage(db, AuditActor.System, "admin.user.directory-updated", username.Value, new { done }, clock.GetUtcNow());
            }
            await db.SaveChangesAsync(cancellationToken);
            // A wish written while this run worked (status or role changed again) is done by the next run.
            return current.Status == AccountStatus.Suspended != current.DirectoryLocked || current.RequestedRole is not null
                ? TimeSpan.Zero : null;
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e)
        {
            return await RecordFailureAsync(username, e);
        }
    }

    /// <summary>Usernames whose directory state lags behind the database (for the sweep after a restart).</summary>
    public async Task<IReadOnlyList<Username>> PendingAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Accounts.Where(a => a.AdminJobRequestedAt != null || a.RequestedRole != null
                || (a.Status == AccountStatus.Suspended) != a.DirectoryLocked)
            .Select(a => a.Username).Take(1000).ToListAsync(cancellationToken);
    }

    private async Task<bool> ApplyPendingResetAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var link = await db.CredentialLinks
            .Where(l => l.Username == username && l.ApplicationId == null && l.PasswordSetAt == null && l.ProtectedPassword != null && l.ExpiresAt > now)
            .OrderByDescending(l => l.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        if (link is null)
        {
            return false;
        }
        var password = credentials.Unprotect(link.ProtectedPassword!);
        await directory.ResetPasswordAsync(username, password, cancellationToken);
        link.MarkPasswordSet(now);
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    private async Task<TimeSpan> RecordFailureAsync(Username username, Exception error)
    {
        await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
        var account = await db.Accounts.SingleAsync(a => a.Username == username, CancellationToken.None);
        var message = $"{error.GetType().Name}: {error.Message}";
        account.DirectoryChangeFailed(message);
        AuditLog.Stage(db, AuditActor.System, "admin.user.directory-failed", username.Value,
            new { attempt = account.AdminJobAttempts, error = message }, clock.GetUtcNow());
        await db.SaveChangesAsync(CancellationToken.None);
        var backoff = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, 5 * Math.Pow(2, Math.Min(account.AdminJobAttempts, 10))));
        LogFailed(logger, error, username.Value, account.AdminJobAttempts, backoff.TotalSeconds);
        return backoff;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Administration job of {Username} failed (attempt {Attempt}); retrying in {Seconds:F0} s")]
    private static partial void LogFailed(ILogger logger, Exception error, string username, int attempt, double seconds);
}
