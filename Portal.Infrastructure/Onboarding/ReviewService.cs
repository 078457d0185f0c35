using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Audit;
using Portal.Domain.Common;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Onboarding;

/// <summary>Filters and order of the review queue; all applied in the database.</summary>
public sealed record ReviewQuery(
    ApplicationState? State = null,
    string? Department = null,
    DateTimeOffset? SubmittedFrom = null,
    DateTimeOffset? SubmittedTo = null,
    string? Search = null,
    string SortBy = nameof(AccountApplication.SubmittedAt),
    bool Descending = true,
    int Offset = 0,
    int Limit = 25);

public abstract record DecisionResult
{
    private DecisionResult()
    {
    }

    public sealed record Decided(AccountApplication Application) : DecisionResult;

    /// <summary>Somebody else decided first (or the applicant withdrew); nothing changed.</summary>
    public sealed record AlreadyDecided(ApplicationState State, string? DecidedBy) : DecisionResult;

    public sealed record NotFound : DecisionResult;

    /// <summary>Approval refused: an account or directory entry has the username by now; nothing changed.</summary>
    public sealed record UsernameTaken : DecisionResult;

    /// <summary>Approval refused: the directory could not be asked whether the username is free; nothing changed.</summary>
    public sealed record DirectoryUnavailable : DecisionResult;
}

/// <summary>Whether an application's username is free, as far as can be told now.</summary>
public enum UsernameStanding
{
    Free,

    /// <summary>An account of the portal or an entry in the directory has it.</summary>
    Taken,

    /// <summary>Free in the portal's records; the directory could not be asked.</summary>
    CannotCheck,
}

/// <summary>
/// What the review page shows next to an application: its username's standing now, and the account that already has its
/// email address (portal account or directory entry), if any; <see cref="EmailCheckedInDirectory"/> is false when the
/// directory could not be asked about the email.
/// </summary>
public sealed record ApplicationCheck(UsernameStanding Username, string? EmailAccount, bool EmailCheckedInDirectory);

/// <summary>The staff side of applications: the queue, the history, approve, reject, retry provisioning.</summary>
public sealed class ReviewService(
    IDbContextFactory<PortalDbContext> contexts,
    IDirectoryProvisioning directory,
    IJobTrigger jobs,
    TimeProvider clock)
{
    public async Task<(IReadOnlyList<AccountApplication> Items, int Total)> PageAsync(ReviewQuery query, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = db.Applications.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(query.Search))
        {
            // Email and username are value objects in the model; the search runs on their columns directly.
            var pattern = $"%{Like.Escape(query.Search.Trim())}%";
            q = db.Applications.FromSql($"""
                SELECT * FROM account_applications
                WHERE full_name ILIKE {pattern} ESCAPE '\' OR email ILIKE {pattern} ESCAPE '\' OR desired_username ILIKE {pattern} ESCAPE '\'
                """).AsNoTracking();
        }
        if (query.State is { } state)
        {
            q = q.Where(a => a.State == state);
        }
        if (!string.IsNullOrWhiteSpace(query.Department))
        {
            q = q.Where(a => a.Department == query.Department);
        }
        if (query.SubmittedFrom is { } from)
        {
            q = q.Where(a => a.SubmittedAt >= from);
        }
        if (query.SubmittedTo is { } to)
        {
            q = q.Where(a => a.SubmittedAt < to);
        }
        var total = await q.CountAsync(cancellationToken);
        IOrderedQueryable<AccountApplication> ordered = (query.SortBy, query.Descending) switch
        {
            (nameof(AccountApplication.FullName), false) => q.OrderBy(a => a.FullName),
            (nameof(AccountApplication.FullName), true) => q.OrderByDescending(a => a.FullName),
            (nameof(AccountApplication.Department), false) => q.OrderBy(a => a.Department),
            (nameof(AccountApplication.Department), true) => q.OrderByDescending(a => a.Department),
            (nameof(AccountApplication.State), false) => q.OrderBy(a => a.State),
            (nameof(AccountApplication.State), true) => q.OrderByDescending(a => a.State),
            (_, false) => q.OrderBy(a => a.SubmittedAt),
            (_, true) => q.OrderByDescending(a => a.SubmittedAt),
        };
        var items = await ordered.ThenBy(a => a.Id).Skip(Math.Max(0, query.Offset)).Take(Math.Clamp(query.Limit, 1, 200)).ToListAsync(cancellationToken);
        return (items, total);
    }

    public async Task<IReadOnlyList<string>> DepartmentsAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Applications.Select(a => a.Department).Distinct().OrderBy(d => d).Take(500).ToListAsync(cancellationToken);
    }

    public async Task<(AccountApplication? Application, IReadOnlyList<AuditEvent> History)> DetailAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var application = await db.Applications.AsNoTracking().SingleOrDefaultAsync(a => a.Id == id, cancellationToken);
        var target = ProvisioningService.ApplicationTarget(id);
        var history = await db.AuditEvents.AsNoTracking().Where(e => e.Target == target)
            .OrderBy(e => e.OccurredAt).ThenBy(e => e.Id).Take(500).ToListAsync(cancellationToken);
        return (application, history);
    }

    /// <summary>
    /// Checks an application against the accounts and the directory as they are now: an application may have been
    /// submitted while LDAP was down, and somebody may have got the username or an account with the email since.
    /// </summary>
    public async Task<ApplicationCheck> CheckAsync(AccountApplication application, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(application);
        var username = await UsernameStandingAsync(application.DesiredUsername, cancellationToken);
        string? emailAccount;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            emailAccount = await ApplicationService.AccountWithEmailAsync(db, application.Email, cancellationToken);
        }
        if (emailAccount is not null)
        {
            return new ApplicationCheck(username, emailAccount, EmailCheckedInDirectory: true);
        }
        try
        {
            return new ApplicationCheck(username, await directory.UidWithEmailAsync(application.Email, cancellationToken), EmailCheckedInDirectory: true);
        }
        catch (DirectoryUnavailableException)
        {
            return new ApplicationCheck(username, null, EmailCheckedInDirectory: false);
        }
    }

    /// <summary>
    /// Approves, after checking the username once more: provisioning must never take over somebody else's entry, so a
    /// username taken meanwhile, or one the directory cannot be asked about, refuses the approval and changes nothing.
    /// </summary>
    public Task<DecisionResult> ApproveAsync(Guid id, Username reviewer, string? sourceAddress, CancellationToken cancellationToken) =>
        DecideAsync(id, reviewer, sourceAddress, "application.approved", null, (db, application, now) =>
        {
            application.Approve(reviewer, now);
        }, afterCommit: () => jobs.RunSoonAsync(JobRequest.Provisioning(id), cancellationToken), cancellationToken,
        guard: async application => await UsernameStandingAsync(application.DesiredUsername, cancellationToken) switch
        {
            UsernameStanding.Taken => new DecisionResult.UsernameTaken(),
            UsernameStanding.CannotCheck => new DecisionResult.DirectoryUnavailable(),
            UsernameStanding.Free => null,
            _ => throw new InvalidOperationException("Unknown username standing."),
        });

    /// <exception cref="InvalidValueException">The reason is empty or too long; nothing changed.</exception>
    public Task<DecisionResult> RejectAsync(Guid id, Username reviewer, string reason, string? sourceAddress, CancellationToken cancellationToken) =>
        DecideAsync(id, reviewer, sourceAddress, "application.rejected", new { reason }, (db, application, now) =>
        {
            application.Reject(reviewer, reason, now);
            OutboxMailer.Stage(db, OnboardingMails.Rejected(application), $"rejected:{application.Id}", now);
        }, afterCommit: () => jobs.RunSoonAsync(JobRequest.MailDispatch, cancellationToken), cancellationToken);

    /// <summary>An administrator asks for another provisioning attempt now.</summary>
    public async Task<bool> RetryProvisioningAsync(Guid id, Username admin, string? sourceAddress, CancellationToken cancellationToken)
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var application = await db.Applications.SingleOrDefaultAsync(a => a.Id == id, cancellationToken);
            if (application is not { State: ApplicationState.ProvisioningFailed })
            {
                return false;
            }
            var now = clock.GetUtcNow();
            application.RetryProvisioningNow(now);
            AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), "application.provisioning-retried",
                ProvisioningService.ApplicationTarget(id), null, now);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateConcurrencyException)
            {
                return false;
            }
        }
        await jobs.RunSoonAsync(JobRequest.Provisioning(id), cancellationToken);
        return true;
    }

    private async Task<UsernameStanding> UsernameStandingAsync(Username username, CancellationToken cancellationToken)
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            if (await db.Accounts.AnyAsync(a => a.Username == username, cancellationToken))
            {
                return UsernameStanding.Taken;
            }
        }
        try
        {
            return await directory.UsernameExistsAsync(username, cancellationToken) ? UsernameStanding.Taken : UsernameStanding.Free;
        }
        catch (DirectoryUnavailableException)
        {
            return UsernameStanding.CannotCheck;
        }
    }

    private async Task<DecisionResult> DecideAsync(Guid id, Username reviewer, string? sourceAddress, string action, object? data,
        Action<PortalDbContext, AccountApplication, DateTimeOffset> decide, Func<Task>? afterCommit, CancellationToken cancellationToken,
        Func<AccountApplication, Task<DecisionResult?>>? guard = null)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var application = await db.Applications.SingleOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (application is null)
        {
            return new DecisionResult.NotFound();
        }
        if (application.State != ApplicationState.Submitted)
        {
            return new DecisionResult.AlreadyDecided(application.State, application.DecidedBy?.Value);
        }
        if (guard is not null && await guard(application) is { } refused)
        {
            return refused;
        }
        var now = clock.GetUtcNow();
        decide(db, application, now);
        AuditLog.Stage(db, new AuditActor(reviewer.Value, sourceAddress), action, ProvisioningService.ApplicationTarget(id), data, now);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            // Another reviewer's decision was saved between our read and our write: theirs stands.
            await using var fresh = await contexts.CreateDbContextAsync(cancellationToken);
            var winner = await fresh.Applications.AsNoTracking().SingleAsync(a => a.Id == id, cancellationToken);
            return new DecisionResult.AlreadyDecided(winner.State, winner.DecidedBy?.Value);
        }
        if (afterCommit is not null)
        {
            await afterCommit();
        }
        return new DecisionResult.Decided(application);
    }
}
