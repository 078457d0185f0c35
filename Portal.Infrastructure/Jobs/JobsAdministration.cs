using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Servers;
using Quartz;

namespace Portal.Infrastructure.Jobs;

/// <summary>A Quartz firing in progress on some node of the cluster (a row of <c>qrtz_fired_triggers</c>).</summary>
public sealed record ExecutingJob(string FireInstanceId, string JobGroup, string JobName, string TriggerGroup, string TriggerName,
    string Node, DateTimeOffset FiredAt, bool InterruptRequested);

/// <summary>A trigger that is not simply waiting: ERROR, BLOCKED (its job runs and allows no second run), PAUSED.</summary>
public sealed record TriggerIssue(string TriggerGroup, string TriggerName, string JobGroup, string JobName, string State,
    DateTimeOffset? NextFireAt, bool Recurring);

/// <summary>An application whose LDAP provisioning failed, with the last error; the job retries it at <see cref="NextAttemptAt"/>.</summary>
public sealed record FailedProvisioning(Guid Id, string Username, string Email, int Attempts, string? LastError, DateTimeOffset? NextAttemptAt);

/// <summary>A server that failed, or whose pending start/stop keeps hitting errors.</summary>
public sealed record ServerIssue(Guid Id, string Username, string Backend, ServerState Observed, DesiredServerState Desired,
    int Attempts, string? LastError, string? FailureReason, DateTimeOffset StateChangedAt);

/// <summary>A queued mail not sent yet after at least one failed attempt.</summary>
public sealed record MailIssue(long Id, string Recipient, string Subject, int Attempts, string? LastError, DateTimeOffset NextAttemptAt);

public sealed record JobsOverview(
    IReadOnlyList<ExecutingJob> Executing,
    IReadOnlyList<TriggerIssue> Triggers,
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
    /// <summary>No scheduler in this process (a tool or test host) or it refused.</summary>
    SchedulerUnavailable,
}

/// <summary>
/// The admin's view of the jobs (<c>/admin/jobs</c>): Quartz firings running anywhere in the cluster and triggers in
/// trouble (read from the <c>qrtz_*</c> tables, so every node's are seen), and the failures the jobs record on domain
/// rows (provisioning, servers, outbox mail). Retry and cancel are audited as <c>admin.job.retry</c> and
/// <c>admin.job.cancel</c>.
/// <para>
/// Retry: provisioning goes through <see cref="ReviewService.RetryProvisioningAsync"/>; a failed server is started again
/// as its user last asked (same toolkit), a pending one with errors gets its job now; a mail is due now and the
/// dispatcher runs; a trigger in ERROR is reset, a paused one resumed.
/// Cancel: a one-off trigger is unscheduled; a running firing is interrupted (cooperatively, on whichever node);
/// a server's job triggers are unscheduled and a running one interrupted, without touching what the user asked for
/// (the server sweep looks at a pending server again within <c>Servers:ReconcileInterval</c>). Recurring triggers are
/// not cancelled here: they are the portal's schedule and come back at the next start anyway.
/// </para>
/// </summary>
public sealed class JobsAdministration(
    IDbContextFactory<PortalDbContext> contexts,
    NpgsqlDataSource dataSource,
    ReviewService review,
    ServerService servers,
    IServerJobTrigger serverJobs,
    IMailDispatchTrigger mail,
    AuditLog audit,
    TimeProvider clock,
    IServiceProvider services)
{
    public const string RetryAction = "admin.job.retry";
    public const string CancelAction = "admin.job.cancel";

    /// <summary>At most this many rows of each list.</summary>
    public const int ListLimit = 200;

    public async Task<JobsOverview> OverviewAsync(CancellationToken cancellationToken) =>
        new(await ExecutingAsync(cancellationToken), await TriggerIssuesAsync(cancellationToken),
            await ProvisioningAsync(cancellationToken), await ServersAsync(cancellationToken), await MailsAsync(cancellationToken));

    public async Task<IReadOnlyList<ExecutingJob>> ExecutingAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT entry_id, coalesce(job_group, ''), coalesce(job_name, ''), trigger_group, trigger_name, instance_name, fired_time,
                   interrupt_requested_time IS NOT NULL
            FROM qrtz_fired_triggers WHERE state = 'EXECUTING'
            ORDER BY fired_time LIMIT @limit
            """);
        command.Parameters.AddWithValue("limit", ListLimit);
        var rows = new List<ExecutingJob>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ExecutingJob(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetString(5), FromTicks(reader.GetInt64(6))!.Value, reader.GetBoolean(7)));
        }
        return rows;
    }

    public async Task<IReadOnlyList<TriggerIssue>> TriggerIssuesAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT t.trigger_group, t.trigger_name, t.job_group, t.job_name, t.trigger_state, t.next_fire_time,
                   coalesce(s.repeat_count = -1, false) OR c.trigger_name IS NOT NULL
            FROM qrtz_triggers t
            LEFT JOIN qrtz_simple_triggers s USING (sched_name, trigger_name, trigger_group)
            LEFT JOIN qrtz_cron_triggers c USING (sched_name, trigger_name, trigger_group)
            WHERE t.trigger_state IN ('ERROR', 'BLOCKED', 'PAUSED', 'PAUSED_BLOCKED')
            ORDER BY t.trigger_state, t.job_group, t.job_name LIMIT @limit
            """);
        command.Parameters.AddWithValue("limit", ListLimit);
        var rows = new List<TriggerIssue>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new TriggerIssue(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : FromTicks(reader.GetInt64(5)), reader.GetBoolean(6)));
        }
        return rows;
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
                await serverJobs.ReconcileSoonAsync(serverId, cancellationToken);
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
    /// Stops the retries of a server's job: its pending triggers are unscheduled and a running firing interrupted.
    /// What the user asked for (desired state) is left alone.
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
        if (await SchedulerAsync(cancellationToken) is not { } scheduler)
        {
            return JobActionResult.SchedulerUnavailable;
        }
        var key = ServerJob.KeyFor(serverId);
        var triggers = await scheduler.GetTriggersOfJob(key, cancellationToken);
        var keys = triggers.Select(t => t.Key).ToList();
        var unscheduled = 0;
        foreach (var trigger in keys)
        {
            unscheduled += await scheduler.UnscheduleJob(trigger, cancellationToken) ? 1 : 0;
        }
        var interrupted = await scheduler.Interrupt(key, cancellationToken);
        await audit.RecordAsync(admin, CancelAction, $"server:{username}",
            new { kind = "server", triggers = triggers.Count, unscheduled, interrupted }, cancellationToken);
        return JobActionResult.Done;
    }

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
        await mail.RequestDispatchAsync(cancellationToken);
        return JobActionResult.Done;
    }

    /// <summary>A trigger in ERROR is reset to waiting; a paused one is resumed.</summary>
    public async Task<JobActionResult> RetryTriggerAsync(string group, string name, AuditActor admin, CancellationToken cancellationToken)
    {
        if (await SchedulerAsync(cancellationToken) is not { } scheduler)
        {
            return JobActionResult.SchedulerUnavailable;
        }
        var key = new TriggerKey(name, group);
        var state = await scheduler.GetTriggerState(key, cancellationToken);
        switch (state)
        {
            case TriggerState.Error:
                await scheduler.ResetTriggerFromErrorState(key, cancellationToken);
                break;
            case TriggerState.Paused:
                await scheduler.ResumeTrigger(key, cancellationToken);
                break;
            case TriggerState.None:
                return JobActionResult.NotFound;
            case TriggerState.Normal or TriggerState.Complete or TriggerState.Blocked or TriggerState.Executing or TriggerState.Awaiting:
                return JobActionResult.NotApplicable;
            default:
                throw new InvalidOperationException($"Unknown trigger state {state}.");
        }
        await audit.RecordAsync(admin, RetryAction, $"trigger:{group}.{name}", new { kind = "trigger", state = state.ToString() }, cancellationToken);
        return JobActionResult.Done;
    }

    /// <summary>Unschedules a one-off trigger (a recurring one is the portal's own schedule and is refused).</summary>
    public async Task<JobActionResult> CancelTriggerAsync(string group, string name, AuditActor admin, CancellationToken cancellationToken)
    {
        var issue = (await TriggerIssuesAsync(cancellationToken)).FirstOrDefault(t => t.TriggerGroup == group && t.TriggerName == name);
        if (issue is { Recurring: true })
        {
            return JobActionResult.NotApplicable;
        }
        if (await SchedulerAsync(cancellationToken) is not { } scheduler)
        {
            return JobActionResult.SchedulerUnavailable;
        }
        if (!await scheduler.UnscheduleJob(new TriggerKey(name, group), cancellationToken))
        {
            return JobActionResult.NotFound;
        }
        await audit.RecordAsync(admin, CancelAction, $"trigger:{group}.{name}", new { kind = "trigger" }, cancellationToken);
        return JobActionResult.Done;
    }

    /// <summary>Asks the job of a running firing to stop (its cancellation token), on whichever node runs it.</summary>
    public async Task<JobActionResult> InterruptAsync(string fireInstanceId, AuditActor admin, CancellationToken cancellationToken)
    {
        if (await SchedulerAsync(cancellationToken) is not { } scheduler)
        {
            return JobActionResult.SchedulerUnavailable;
        }
        var interrupted = await scheduler.InterruptFireInstance(fireInstanceId, cancellationToken);
        if (!interrupted)
        {
            return JobActionResult.NotFound;
        }
        await audit.RecordAsync(admin, CancelAction, $"firing:{fireInstanceId}", new { kind = "firing" }, cancellationToken);
        return JobActionResult.Done;
    }

    private async Task<IScheduler?> SchedulerAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<ISchedulerFactory>() is not { } factory)
        {
            return null;
        }
        try
        {
            return await factory.GetScheduler(cancellationToken);
        }
        catch (SchedulerException)
        {
            return null;
        }
    }

    private static string Target(UserServer server) => $"server:{server.Username}";

    // Quartz's ADO store keeps times as UTC ticks.
    private static DateTimeOffset? FromTicks(long ticks) => ticks <= 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
}
