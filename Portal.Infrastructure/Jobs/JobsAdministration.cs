using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Servers;

namespace Portal.Infrastructure.Jobs;

/// <summary>A node's Hangfire server: when it last reported and how many workers it runs.</summary>
public sealed record JobServer(string Name, DateTimeOffset? Heartbeat, int Workers);

/// <summary>Hangfire's counts across the cluster, and its servers; the dashboard has the jobs themselves.</summary>
public sealed record JobEngineSummary(long Enqueued, long Scheduled, long Processing, long Failed, long Succeeded, IReadOnlyList<JobServer> Servers);

/// <summary>An application whose LDAP provisioning failed, with the last error; the job retries it at <see cref="NextAttemptAt"/>.</summary>
public sealed record FailedProvisioning(Guid Id, string Username, string Email, int Attempts, string? LastError, DateTimeOffset? NextAttemptAt);

/// <summary>A server that failed, or whose pending start/stop keeps hitting errors.</summary>
public sealed record ServerIssue(Guid Id, string Username, string Backend, ServerState Observed, DesiredServerState Desired,
    int Attempts, string? LastError, string? FailureReason, DateTimeOffset StateChangedAt);

/// <summary>A queued mail not sent yet after at least one failed attempt.</summary>
public sealed record MailIssue(long Id, string Recipient, string Subject, int Attempts, string? LastError, DateTimeOffset NextAttemptAt);

public sealed record JobsOverview(
    JobEngineSummary Engine,
    IReadOnlyList<FailedProvisioning> Provisioning,
    IReadOnlyList<ServerIssue> Servers,
    IReadOnlyList<MailIssue> Mails);

/// <summary>What an admin action did.</summary>
public enum JobActionResult
{
    Done,
    NotFound,
    /// <summary>The thing is no longer in a state the action applies to (someone or a job changed it meanwhile).</summary>
    NotApplicable,
    /// <summary>The job store did not answer.</summary>
    SchedulerUnavailable,
}

/// <summary>
/// The admin's view of the jobs (<c>/admin/jobs</c>): Hangfire's counts and servers (its dashboard, at
/// <c>/admin/hangfire</c>, shows and acts on the jobs themselves), and the failures the jobs record on domain rows
/// (provisioning, servers, outbox mail) with the portal's own audited actions, <c>admin.job.retry</c> and
/// <c>admin.job.cancel</c>.
/// <para>
/// Retry: provisioning goes through <see cref="ReviewService.RetryProvisioningAsync"/>; a failed server is started again
/// as its user last asked (same toolkit), a pending one with errors gets its job now; a mail is due now and a dispatch
/// runs. Cancel: a server's queued, scheduled and running jobs are deleted (a running one is cancelled within
/// seconds, on whichever node), without touching what the user asked for (the server sweep looks at a pending server
/// again within <c>Servers:ReconcileInterval</c>).
/// </para>
/// </summary>
public sealed class JobsAdministration(
    IDbContextFactory<PortalDbContext> contexts,
    ReviewService review,
    ServerService servers,
    IJobTrigger jobs,
    JobStorage storage,
    IBackgroundJobClient client,
    AuditLog audit,
    TimeProvider clock)
{
    public const string RetryAction = "admin.job.retry";
    public const string CancelAction = "admin.job.cancel";

    /// <summary>At most this many rows of each list.</summary>
    public const int ListLimit = 200;

    /// <summary>How many jobs a cancel looks through in each of Hangfire's lists.</summary>
    private const int CancelScanLimit = 2000;

    public async Task<JobsOverview> OverviewAsync(CancellationToken cancellationToken) =>
        new(Engine(), await ProvisioningAsync(cancellationToken), await ServersAsync(cancellationToken), await MailsAsync(cancellationToken));

    public JobEngineSummary Engine()
    {
        var monitoring = storage.GetMonitoringApi();
        var statistics = monitoring.GetStatistics();
        var servers = monitoring.Servers().Select(s => new JobServer(s.Name, s.Heartbeat is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null, s.WorkersCount))
            .OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
        return new JobEngineSummary(statistics.Enqueued, statistics.Scheduled, statistics.Processing, statistics.Failed, statistics.Succeeded, servers);
    }

    public async Task<IReadOnlyList<FailedProvisioning>> ProvisioningAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Applications.AsNoTracking().Where(a => a.State == ApplicationState.ProvisioningFailed)
            .OrderByDescending(a => a.ProvisioningAttempts).ThenBy(a => a.SubmittedAt).Take(ListLimit)
            .ToListAsync(cancellationToken);
        return [.. rows.Select(a => new FailedProvisioning(a.Id, a.DesiredUsername.Value, a.Email.Value, a.ProvisioningAttempts,
            a.LastProvisioningError, a.NextProvisioningAttemptAt))];
    }

    public async Task<IReadOnlyList<ServerIssue>> ServersAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Servers.AsNoTracking()
            .Where(s => s.Observed == ServerState.Failed
                || ((s.Observed == ServerState.StartPending || s.Observed == ServerState.StopPending) && s.LastError != null))
            .OrderByDescending(s => s.StateChangedAt).Take(ListLimit).ToListAsync(cancellationToken);
        return [.. rows.Select(s => new ServerIssue(s.Id, s.Username.Value, s.Backend, s.Observed, s.Desired, s.Attempts, s.LastError,
            s.FailureReason, s.StateChangedAt))];
    }

    public async Task<IReadOnlyList<MailIssue>> MailsAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.OutboxMails.AsNoTracking().Where(m => m.SentAt == null && m.Attempts > 0)
            .OrderByDescending(m => m.Attempts).ThenBy(m => m.Id).Take(ListLimit)
            .Select(m => new MailIssue(m.Id, m.Recipient, m.Subject, m.Attempts, m.LastError, m.NextAttemptAt))
            .ToListAsync(cancellationToken);
    }

    /// <summary>Provisioning of a failed application again now.</summary>
    public async Task<JobActionResult> RetryProvisioningAsync(Guid applicationId, AuditActor admin, CancellationToken cancellationToken)
    {
        if (!Username.TryParse(admin.Name, out var adminName))
        {
            throw new ArgumentException("The actor is not a username.", nameof(admin));
        }
        var done = await review.RetryProvisioningAsync(applicationId, adminName, admin.SourceAddress, cancellationToken);
        if (!done)
        {
            return JobActionResult.NotApplicable;
        }
        await audit.RecordAsync(admin, RetryAction, ProvisioningService.ApplicationTarget(applicationId), new { kind = "provisioning" }, cancellationToken);
        return JobActionResult.Done;
    }

    /// <summary>
    /// A failed server is started again for its user with the toolkit it had (GPUs and quota as for any start); a
    /// pending server with errors has its job run now.
    /// </summary>
    public async Task<JobActionResult> RetryServerAsync(Guid serverId, AuditActor admin, CancellationToken cancellationToken)
    {
        UserServer? server;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            server = await db.Servers.AsNoTracking().SingleOrDefaultAsync(s => s.Id == serverId, cancellationToken);
        }
        if (server is null)
        {
            return JobActionResult.NotFound;
        }
        string how;
        switch (server.Observed)
        {
            case ServerState.Failed:
                var result = await servers.StartAsync(server.Username, server.CudaToolkit, admin.SourceAddress, cancellationToken);
                if (result != ServerRequestResult.Requested)
                {
                    await audit.RecordAsync(admin, RetryAction, Target(server), new { kind = "server", how = "start", result = result.ToString() }, cancellationToken);
                    return JobActionResult.NotApplicable;
                }
                how = "start";
                break;
            case ServerState.StartPending or ServerState.StopPending:
                await jobs.RunSoonAsync(JobRequest.Server(serverId), cancellationToken);
                how = "reconcile";
                break;
            case ServerState.Stopped or ServerState.Running:
                return JobActionResult.NotApplicable;
            default:
                throw new InvalidOperationException($"Unknown state {server.Observed}.");
        }
        await audit.RecordAsync(admin, RetryAction, Target(server), new { kind = "server", how }, cancellationToken);
        return JobActionResult.Done;
    }

    /// <summary>
    /// Stops the retries of a server's job: its queued and scheduled Hangfire jobs are deleted and a running one is
    /// cancelled. What the user asked for (desired state) is left alone.
    /// </summary>
    public async Task<JobActionResult> CancelServerJobAsync(Guid serverId, AuditActor admin, CancellationToken cancellationToken)
    {
        string username;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var server = await db.Servers.AsNoTracking().SingleOrDefaultAsync(s => s.Id == serverId, cancellationToken);
            if (server is null)
            {
                return JobActionResult.NotFound;
            }
            username = server.Username.Value;
        }
        var request = JobRequest.Server(serverId);
        var ids = new List<string>();
        var deleted = 0;
        var answered = true;
        try
        {
            var monitoring = storage.GetMonitoringApi();
            ids.AddRange(monitoring.EnqueuedJobs(EnqueuedState.DefaultQueue, 0, CancelScanLimit).Where(j => Is(j.Value.Job, request)).Select(j => j.Key)
                .Concat(monitoring.ScheduledJobs(0, CancelScanLimit).Where(j => Is(j.Value.Job, request)).Select(j => j.Key))
                .Concat(monitoring.ProcessingJobs(0, CancelScanLimit).Where(j => Is(j.Value.Job, request)).Select(j => j.Key))
                .Distinct(StringComparer.Ordinal));
            foreach (var id in ids)
            {
                deleted += client.Delete(id) ? 1 : 0;
            }
        }
        catch (Exception e) when (e is NpgsqlException or BackgroundJobClientException)
        {
            // Hangfire's tables stopped answering: the admin is told, and what was deleted before is still recorded.
            answered = false;
        }
        if (answered || deleted > 0)
        {
            await audit.RecordAsync(admin, CancelAction, $"server:{username}", new { kind = "server", jobs = ids.Count, deleted, complete = answered },
                cancellationToken);
        }
        return answered ? JobActionResult.Done : JobActionResult.SchedulerUnavailable;
    }

    /// <summary>Whether a Hangfire job is the runner's for this request.</summary>
    public static bool Is(Job? job, JobRequest request) =>
        job is { Type.Name: nameof(PortalJobRunner), Args.Count: >= 2 } && job.Args[0] is JobKind kind && kind == request.Kind
        && job.Args[1] is string key && key == request.Key;

    /// <summary>A mail that failed is due now, and the dispatcher is asked to run.</summary>
    public async Task<JobActionResult> RetryMailAsync(long mailId, AuditActor admin, CancellationToken cancellationToken)
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var changed = await db.OutboxMails.Where(m => m.Id == mailId && m.SentAt == null)
                .ExecuteUpdateAsync(u => u.SetProperty(m => m.NextAttemptAt, clock.GetUtcNow()), cancellationToken);
            if (changed == 0)
            {
                return JobActionResult.NotApplicable;
            }
        }
        await audit.RecordAsync(admin, RetryAction, $"mail:{mailId}", new { kind = "mail" }, cancellationToken);
        await jobs.RunSoonAsync(JobRequest.MailDispatch, cancellationToken);
        return JobActionResult.Done;
    }

    private static string Target(UserServer server) => $"server:{server.Username}";
}
