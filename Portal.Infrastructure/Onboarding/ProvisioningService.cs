using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Jobs;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Onboarding;

/// <summary>The steps of provisioning, in order; each is done at most once per application, however often it runs.</summary>
public enum ProvisioningStep
{
    UidAllocated,
    EntryCreated,
    CredentialIssued,
    PasswordSet,
    GroupJoined,
    Completed,
}

public enum ProvisioningOutcome
{
    Provisioned,

    /// <summary>Nothing to do: not approved, or already provisioned.</summary>
    NothingToDo,

    /// <summary>Another run (here or on another node) holds this application; it will finish the work.</summary>
    Busy,

    /// <summary>A step failed; the failure is recorded and the job tries again after a backoff.</summary>
    Failed,
}

/// <summary>
/// Turns an approved application into an LDAP account, converging on the state stored in the database: a run
/// killed after any step is finished by the next run with exactly one entry, one uidNumber and one email.
/// A per-application advisory lock keeps two runs (two nodes, two triggers) from working on one application.
/// </summary>
public sealed partial class ProvisioningService(
    IDbContextFactory<PortalDbContext> contexts,
    NpgsqlDataSource dataSource,
    IDirectoryProvisioning directory,
    CredentialIssuer credentials,
    IJobTrigger jobs,
    TimeProvider clock,
    ILogger<ProvisioningService> logger)
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(10);

    /// <summary>At most this many applications per sweep; the next sweep takes the rest.</summary>
    private const int DueBatch = 1000;

    /// <summary>Called after each step; tests use it to stop a run half-way, as a killed node would.</summary>
    public Func<ProvisioningStep, Guid, CancellationToken, Task>? AfterStep { get; set; }

    /// <summary>The approved applications whose next attempt is due, oldest first (what the sweep enqueues).</summary>
    public async Task<IReadOnlyList<Guid>> DueAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = clock.GetUtcNow();
        return await db.Applications
            .Where(a => (a.State == ApplicationState.Approved || a.State == ApplicationState.ProvisioningFailed)
                && a.NextProvisioningAttemptAt <= now)
            .OrderBy(a => a.NextProvisioningAttemptAt).Select(a => a.Id).Take(DueBatch).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Runs what is left of one application's provisioning under its advisory lock (<see cref="ProvisioningOutcome.Busy"/>
    /// while another run holds it); a failure is recorded on the application with its next attempt.
    /// </summary>
    public async Task<ProvisioningOutcome> ProvisionAsync(Guid applicationId, CancellationToken cancellationToken)
    {
        await using var lockConnection = await dataSource.OpenConnectionAsync(cancellationToken);
        var lockKey = LockKey(applicationId);
        await using (var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", lockConnection) { Parameters = { new() { Value = lockKey } } })
        {
            if (!(bool)(await tryLock.ExecuteScalarAsync(cancellationToken))!)
            {
                return ProvisioningOutcome.Busy;
            }
        }
        try
        {
            return await RunStepsAsync(applicationId, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: leave the state as it is; the next run picks it up where this one stopped.
            throw;
        }
        catch (Exception e)
        {
            await RecordFailureAsync(applicationId, e, cancellationToken);
            return ProvisioningOutcome.Failed;
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", lockConnection) { Parameters = { new() { Value = lockKey } } };
            await unlock.ExecuteScalarAsync(CancellationToken.None);
        }
    }

    private async Task<ProvisioningOutcome> RunStepsAsync(Guid id, CancellationToken cancellationToken)
    {
        // 1. uidNumber: drawn from the sequence once and kept on the application.
        var application = await LoadAsync(id, cancellationToken);
        if (application is null || !application.AwaitsProvisioning)
        {
            return ProvisioningOutcome.NothingToDo;
        }
        if (application.UidNumber is null)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            db.Attach(application);
            var uidNumber = await db.Database.SqlQuery<int>($"SELECT nextval('uid_numbers')::integer AS \"Value\"").SingleAsync(cancellationToken);
            application.AssignUidNumber(uidNumber);
            Audit(db, application, "application.uid-allocated", new { uidNumber });
            await db.SaveChangesAsync(cancellationToken);
        }
        await StepDoneAsync(ProvisioningStep.UidAllocated, id, cancellationToken);

        // 2. The LDAP entry, without a password yet; an entry with our uidNumber is ours from an earlier run.
        var username = application.DesiredUsername;
        await directory.EnsurePersonAsync(new NewPerson(username, application.FullName, application.Email,
            application.UidNumber!.Value, application.AffiliationId), cancellationToken);
        await StepDoneAsync(ProvisioningStep.EntryCreated, id, cancellationToken);

        // 3. The one-time link and its mail, committed together: one link, one mail.
        var link = await EnsureCredentialLinkAsync(application, cancellationToken);
        await StepDoneAsync(ProvisioningStep.CredentialIssued, id, cancellationToken);

        // 4. The initial password into LDAP (an admin reset, so pwdReset is set); repeated until recorded.
        if (link.PasswordSetAt is null)
        {
            await directory.SetInitialPasswordAsync(username, credentials.Unprotect(link.ProtectedPassword!), cancellationToken);
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            db.Attach(link);
            link.MarkPasswordSet(clock.GetUtcNow());
            await db.SaveChangesAsync(cancellationToken);
        }
        await StepDoneAsync(ProvisioningStep.PasswordSet, id, cancellationToken);

        // 5. The students' group.
        await directory.EnsureInStudentsGroupAsync(username, cancellationToken);
        await StepDoneAsync(ProvisioningStep.GroupJoined, id, cancellationToken);

        // 6. The portal's account record and the final state, together.
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var current = await db.Applications.SingleAsync(a => a.Id == id, cancellationToken);
            if (!await db.Accounts.AnyAsync(a => a.Username == username, cancellationToken))
            {
                db.Accounts.Add(Account.Provisioned(id, username, current.FullName, current.Email, current.Department,
                    current.UidNumber!.Value, clock.GetUtcNow()));
            }
            current.MarkProvisioned(clock.GetUtcNow());
            Audit(db, current, "application.provisioned", new { username = username.Value, uidNumber = current.UidNumber });
            await db.SaveChangesAsync(cancellationToken);
        }
        // The credentials mail was queued in step 3; send it now rather than at the next dispatcher run.
        await jobs.RunSoonAsync(JobRequest.MailDispatch, cancellationToken);
        LogProvisioned(logger, username.Value, id);
        await StepDoneAsync(ProvisioningStep.Completed, id, cancellationToken);
        return ProvisioningOutcome.Provisioned;
    }

    private async Task<CredentialLink> EnsureCredentialLinkAsync(AccountApplication application, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var existing = await db.CredentialLinks.SingleOrDefaultAsync(l => l.ApplicationId == application.Id, cancellationToken);
        if (existing is not null)
        {
            return existing;
        }
        var link = credentials.IssueInitial(db, application, clock.GetUtcNow());
        Audit(db, application, "application.credentials-issued", new { expiresAt = link.ExpiresAt });
        await db.SaveChangesAsync(cancellationToken);
        return link;
    }

    private async Task RecordFailureAsync(Guid id, Exception error, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
        var application = await db.Applications.SingleOrDefaultAsync(a => a.Id == id, CancellationToken.None);
        if (application is null || !application.AwaitsProvisioning)
        {
            return;
        }
        var now = clock.GetUtcNow();
        var backoff = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, 10 * Math.Pow(2, application.ProvisioningAttempts)));
        var message = $"{error.GetType().Name}: {error.Message}";
        application.RecordProvisioningFailure(message, now + backoff);
        Audit(db, application, "application.provisioning-failed", new { attempt = application.ProvisioningAttempts, error = message });
        await db.SaveChangesAsync(CancellationToken.None);
        LogFailed(logger, error, id, application.ProvisioningAttempts, backoff.TotalSeconds);
        _ = cancellationToken;
    }

    private async Task<AccountApplication?> LoadAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Applications.AsNoTracking().SingleOrDefaultAsync(a => a.Id == id, cancellationToken);
    }

    private async Task StepDoneAsync(ProvisioningStep step, Guid id, CancellationToken cancellationToken)
    {
        if (AfterStep is { } observe)
        {
            await observe(step, id, cancellationToken);
        }
    }

    /// <summary>Provisioning is the system's work, recorded in the application's history.</summary>
    private void Audit(PortalDbContext db, AccountApplication application, string action, object data) =>
        AuditLog.Stage(db, AuditActor.System, action, ApplicationTarget(application.Id), data, clock.GetUtcNow());

    /// <summary>The audit target of an application; its history is every event with this target.</summary>
    public static string ApplicationTarget(Guid id) => $"application:{id}";

    private static long LockKey(Guid id) => BitConverter.ToInt64(id.ToByteArray(), 0) ^ 0x70726f76;

    [LoggerMessage(Level = LogLevel.Information, Message = "Provisioned {Username} from application {ApplicationId}")]
    private static partial void LogProvisioned(ILogger logger, string username, Guid applicationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Provisioning of application {ApplicationId} failed (attempt {Attempt}); retrying in {Seconds:F0} s")]
    private static partial void LogFailed(ILogger logger, Exception error, Guid applicationId, int attempt, double seconds);
}
