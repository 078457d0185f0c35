using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Jobs;
using Portal.Infrastructure.Servers;
using Portal.Tests.Support;
using Portal.Tests.Usage;
using Quartz;

namespace Portal.Tests.Admin;

/// <summary>
/// The jobs page's service on a real database: it lists crafted failures (provisioning, servers, mail, Quartz
/// firings and triggers) with their errors, and retry and cancel change them and are audited.
/// </summary>
public sealed class JobsAdministrationTests : MigratedDatabaseTest, IDisposable
{
    private static readonly AuditActor Admin = new("admin", "192.0.2.7");

    private readonly ManualClock _clock = new(UsageRows.At("2026-03-10T12:00:00Z"));
    private ServerServices? _servers;
    private OnboardingServices? _onboarding;

    public void Dispose() => _servers?.Dispose();

    private JobsAdministration Service(IServiceProvider? services = null)
    {
        _servers = new ServerServices(Database, clock: _clock);
        _onboarding = new OnboardingServices(Database, clock: _clock);
        return new JobsAdministration(Database.ContextFactory(), Database.DataSource, _onboarding.Review, _servers.Servers, _servers.Jobs,
            _onboarding.MailTrigger, new AuditLog(Database.ContextFactory(), _clock), _clock,
            services ?? new ServiceCollection().BuildServiceProvider());
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters) =>
        await new UsageRows(Database).ExecuteAsync(sql, parameters);

    private async Task<long> AuditCountAsync(string action, string target)
    {
        await using var command = Database.DataSource.CreateCommand("SELECT count(*) FROM audit_events WHERE action = @action AND target = @target AND actor = 'admin'");
        command.Parameters.Add(new NpgsqlParameter("action", action));
        command.Parameters.Add(new NpgsqlParameter("target", target));
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task FailedProvisioning_ListedWithItsError_RetryMakesItDueNowAndTriggersTheJob()
    {
        var jobs = Service();
        var id = Guid.NewGuid();
        await ExecuteAsync("""
            INSERT INTO account_applications (id, full_name, email, affiliation_id, department, desired_username, purpose,
                accepted_terms_version, state, submitted_at, status_token_hash, provisioning_attempts, last_provisioning_error,
                next_provisioning_attempt_at, decided_by, decided_at, version)
            VALUES (@id, 'Hanako', 'hanako@keio.jp', 'S1', 'Science', 'hanako', 'Study', 1, 'ProvisioningFailed', now(), 'h1', 4,
                'LDAP: server down', '2026-03-10T18:00:00Z', 'staff1', now(), 1)
            """, ("id", id));

        var listed = Assert.Single((await jobs.OverviewAsync(CancellationToken.None)).Provisioning);
        Assert.Equal(("hanako", 4, "LDAP: server down"), (listed.Username, listed.Attempts, listed.LastError));

        Assert.Equal(JobActionResult.Done, await jobs.RetryProvisioningAsync(id, Admin, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        var application = await db.Applications.SingleAsync(a => a.Id == id);
        Assert.Equal(_clock.GetUtcNow(), application.NextProvisioningAttemptAt);
        Assert.Equal(1, _onboarding!.Trigger.Count);
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.RetryAction, $"application:{id}"));
    }

    [Fact]
    public async Task FailedServer_ListedWithItsReason_RetryStartsItAgainForTheUser()
    {
        var jobs = Service();
        var id = await new UsageRows(Database).ServerAsync("jiro", observed: "Failed", failureReason: "The server did not start within 60 s");

        var listed = Assert.Single((await jobs.ServersAsync(CancellationToken.None)));
        Assert.Equal((id, ServerState.Failed, "The server did not start within 60 s"), (listed.Id, listed.Observed, listed.FailureReason));

        Assert.Equal(JobActionResult.Done, await jobs.RetryServerAsync(id, Admin, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        var server = await db.Servers.SingleAsync(s => s.Id == id);
        Assert.Equal((DesiredServerState.Running, ServerState.StartPending), (server.Desired, server.Observed));
        Assert.Contains(id, _servers!.Jobs.Requests);
        Assert.Equal(1, await db.ServerSessions.CountAsync(s => s.ServerId == id && s.Outcome == SessionOutcome.Open));
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.RetryAction, "server:jiro"));
        Assert.Empty(await jobs.ServersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task PendingServerWithErrors_Listed_RetryRunsItsJobAndLeavesTheWishAlone()
    {
        var jobs = Service();
        var rows = new UsageRows(Database);
        var id = await rows.ServerAsync("saburo", observed: "StartPending", desired: "Running", attempts: 3, lastError: "HttpRequestException: refused");
        await rows.ServerAsync("quiet", observed: "StartPending", desired: "Running"); // pending without errors: not a problem

        var listed = Assert.Single(await jobs.ServersAsync(CancellationToken.None));
        Assert.Equal(("saburo", 3, "HttpRequestException: refused"), (listed.Username, listed.Attempts, listed.LastError));

        Assert.Equal(JobActionResult.Done, await jobs.RetryServerAsync(id, Admin, CancellationToken.None));
        Assert.Equal([id], _servers!.Jobs.Requests);
        await using var db = Database.CreateDbContext();
        var server = await db.Servers.SingleAsync(s => s.Id == id);
        Assert.Equal((DesiredServerState.Running, ServerState.StartPending), (server.Desired, server.Observed));

        // Cancel needs the scheduler; this host has none, and says so rather than pretending.
        Assert.Equal(JobActionResult.SchedulerUnavailable, await jobs.CancelServerJobAsync(id, Admin, CancellationToken.None));
        Assert.Equal(JobActionResult.NotFound, await jobs.RetryServerAsync(Guid.NewGuid(), Admin, CancellationToken.None));
    }

    [Fact]
    public async Task FailingMail_Listed_RetryMakesItDueNow()
    {
        var jobs = Service();
        await ExecuteAsync("""
            INSERT INTO outbox_mails (dedup_key, recipient, subject, body, created_at, next_attempt_at, attempts, last_error)
            VALUES ('k1', 'taro@keio.jp', 'Welcome', 'Hello', now(), '2026-03-11T00:00:00Z', 3, 'SmtpException: 451 try later'),
                   ('k2', 'ok@keio.jp', 'Fresh', 'Hello', now(), now(), 0, NULL)
            """);

        var mail = Assert.Single(await jobs.MailsAsync(CancellationToken.None));
        Assert.Equal(("taro@keio.jp", 3, "SmtpException: 451 try later"), (mail.Recipient, mail.Attempts, mail.LastError));

        Assert.Equal(JobActionResult.Done, await jobs.RetryMailAsync(mail.Id, Admin, CancellationToken.None));
        await using var db = Database.CreateDbContext();
        Assert.Equal(_clock.GetUtcNow(), (await db.OutboxMails.SingleAsync(m => m.Id == mail.Id)).NextAttemptAt);
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.RetryAction, $"mail:{mail.Id}"));
    }

    [Fact]
    public async Task QuartzRows_ExecutingFiringsOfEveryNodeAndTroubledTriggers_Listed()
    {
        var jobs = Service();
        var fired = UsageRows.At("2026-03-10T11:59:00Z");
        await ExecuteAsync("""
            INSERT INTO qrtz_job_details (sched_name, job_name, job_group, job_class_name, is_durable, is_nonconcurrent, is_update_data, requests_recovery)
            VALUES ('QuartzScheduler', 'provisioning', 'onboarding', 'X', true, true, false, false),
                   ('QuartzScheduler', 'server-sweep', 'servers', 'X', true, true, false, false);
            INSERT INTO qrtz_triggers (sched_name, trigger_name, trigger_group, job_name, job_group, next_fire_time, trigger_state, trigger_type, start_time)
            VALUES ('QuartzScheduler', 'once', 'onboarding', 'provisioning', 'onboarding', @next, 'ERROR', 'SIMPLE', 0),
                   ('QuartzScheduler', 'server-sweep', 'servers', 'server-sweep', 'servers', @next, 'PAUSED', 'SIMPLE', 0),
                   ('QuartzScheduler', 'fine', 'servers', 'server-sweep', 'servers', @next, 'WAITING', 'SIMPLE', 0);
            INSERT INTO qrtz_simple_triggers (sched_name, trigger_name, trigger_group, repeat_count, repeat_interval, times_triggered)
            VALUES ('QuartzScheduler', 'once', 'onboarding', 0, 0, 1),
                   ('QuartzScheduler', 'server-sweep', 'servers', -1, 60000, 10);
            INSERT INTO qrtz_fired_triggers (sched_name, entry_id, trigger_name, trigger_group, instance_name, fired_time, sched_time,
                priority, state, job_name, job_group, is_nonconcurrent)
            VALUES ('QuartzScheduler', 'node-b-1', 'once', 'onboarding', 'node-b', @fired, @fired, 5, 'EXECUTING', 'provisioning', 'onboarding', true),
                   ('QuartzScheduler', 'node-b-2', 'fine', 'servers', 'node-b', @fired, @fired, 5, 'ACQUIRED', 'server-sweep', 'servers', true);
            """, ("next", UsageRows.At("2026-03-10T13:00:00Z").UtcTicks), ("fired", fired.UtcTicks));

        var overview = await jobs.OverviewAsync(CancellationToken.None);

        var executing = Assert.Single(overview.Executing);
        Assert.Equal(("node-b-1", "onboarding", "provisioning", "node-b", fired), (executing.FireInstanceId, executing.JobGroup, executing.JobName, executing.Node, executing.FiredAt));
        Assert.Equal([("once", "ERROR", false), ("server-sweep", "PAUSED", true)],
            overview.Triggers.Select(t => (t.TriggerName, t.State, t.Recurring)));
        Assert.Equal(UsageRows.At("2026-03-10T13:00:00Z"), overview.Triggers[0].NextFireAt);

        // The portal's own recurring schedule is not cancelled from the page.
        Assert.Equal(JobActionResult.NotApplicable, await jobs.CancelTriggerAsync("servers", "server-sweep", Admin, CancellationToken.None));
    }

    [Fact]
    public async Task RealScheduler_PausedTriggerRetriedAndOneOffTriggerCancelled_Audited()
    {
        var services = new ServiceCollection();
        services.AddQuartz(quartz => quartz.UsePersistentStore(store =>
        {
            store.UsePostgres(Database.ConnectionString);
            store.UseClustering();
        }));
        await using var provider = services.BuildServiceProvider();
        var jobs = Service(provider);
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var job = JobBuilder.Create<NothingJob>().WithIdentity("test-job", "tests").StoreDurably().Build();
        var trigger = TriggerBuilder.Create().ForJob(job).WithIdentity("later", "tests").StartAt(DateTimeOffset.UtcNow.AddHours(1)).Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        await scheduler.ScheduleJob(trigger);
        await scheduler.PauseTrigger(trigger.Key);

        var paused = Assert.Single(await jobs.TriggerIssuesAsync(CancellationToken.None));
        Assert.Equal(("later", "PAUSED", false), (paused.TriggerName, paused.State, paused.Recurring));

        Assert.Equal(JobActionResult.Done, await jobs.RetryTriggerAsync("tests", "later", Admin, CancellationToken.None));
        Assert.Equal(TriggerState.Normal, await scheduler.GetTriggerState(trigger.Key));
        Assert.Empty(await jobs.TriggerIssuesAsync(CancellationToken.None));

        await scheduler.PauseTrigger(trigger.Key);
        Assert.Equal(JobActionResult.Done, await jobs.CancelTriggerAsync("tests", "later", Admin, CancellationToken.None));
        Assert.Equal(TriggerState.None, await scheduler.GetTriggerState(trigger.Key));
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.RetryAction, "trigger:tests.later"));
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.CancelAction, "trigger:tests.later"));

        // A server's job: its pending triggers are unscheduled; the user's wish stays as it was.
        var serverId = await new UsageRows(Database).ServerAsync("shiro", observed: "StartPending", desired: "Running", attempts: 2, lastError: "boom");
        var serverJob = JobBuilder.Create<NothingJob>().WithIdentity(ServerJob.KeyFor(serverId)).StoreDurably().Build();
        await scheduler.AddJob(serverJob, AddJobOptions.Replacing);
        await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(serverJob).StartAt(DateTimeOffset.UtcNow.AddMinutes(5)).Build());
        Assert.Single(await scheduler.GetTriggersOfJob(serverJob.Key));

        Assert.Equal(JobActionResult.Done, await jobs.CancelServerJobAsync(serverId, Admin, CancellationToken.None));

        Assert.Empty(await scheduler.GetTriggersOfJob(serverJob.Key));
        await using var db = Database.CreateDbContext();
        var server = await db.Servers.SingleAsync(s => s.Id == serverId);
        Assert.Equal((DesiredServerState.Running, ServerState.StartPending), (server.Desired, server.Observed));
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.CancelAction, "server:shiro"));
        await scheduler.Shutdown();
    }

    private sealed class NothingJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
    }
}
