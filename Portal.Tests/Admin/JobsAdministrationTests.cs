using Microsoft.EntityFrameworkCore;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.States;
using Npgsql;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Jobs;
using Portal.Tests.Support;
using Portal.Tests.Usage;

namespace Portal.Tests.Admin;

/// <summary>
/// The jobs page's service on a real database: it lists crafted failures (provisioning, servers, mail) with their
/// errors and Hangfire's counts, and retry and cancel change them and are audited.
/// </summary>
public sealed class JobsAdministrationTests : MigratedDatabaseTest, IDisposable
{
    private static readonly AuditActor Admin = new("admin", "192.0.2.7");

    private readonly ManualClock _clock = new(UsageRows.At("2026-03-10T12:00:00Z"));
    private ServerServices? _servers;
    private OnboardingServices? _onboarding;

    public void Dispose() => _servers?.Dispose();

    private JobStorage? _storage;
    private BackgroundJobClient? _client;

    /// <summary>The service on the real Hangfire tables of this database (the migration installed them); no Hangfire server runs.</summary>
    private JobsAdministration Service(string? jobStoreConnectionString = null)
    {
        _servers = new ServerServices(Database, clock: _clock);
        _onboarding = new OnboardingServices(Database, clock: _clock);
        var options = new PostgreSqlStorageOptions { SchemaName = HangfireSchema.Name, PrepareSchemaIfNecessary = false };
        _storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(jobStoreConnectionString ?? Database.ConnectionString, options), options);
        _client = new BackgroundJobClient(_storage);
        return new JobsAdministration(Database.ContextFactory(), _onboarding.Review, _servers.Servers, _onboarding.Trigger,
            _storage, _client, new AuditLog(Database.ContextFactory(), _clock), _clock);
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
        Assert.Equal([JobRequest.Provisioning(id)], _onboarding!.Trigger.Requests);
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
        Assert.Contains(JobRequest.Server(id), _servers!.Jobs.Requests);
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
        Assert.Equal([JobRequest.Server(id)], _onboarding!.Trigger.Requests);
        await using var db = Database.CreateDbContext();
        var server = await db.Servers.SingleAsync(s => s.Id == id);
        Assert.Equal((DesiredServerState.Running, ServerState.StartPending), (server.Desired, server.Observed));

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
    public async Task Engine_JobsWaitingAndScheduled_CountedFromHangfire()
    {
        var jobs = Service();
        _client!.Enqueue<PortalJobRunner>(r => r.RunAsync(JobKind.MailDispatch, "", CancellationToken.None));
        _client.Enqueue<PortalJobRunner>(r => r.RunAsync(JobKind.ServerSweep, "", CancellationToken.None));
        _client.Schedule<PortalJobRunner>(r => r.RunAsync(JobKind.IdleCull, "", CancellationToken.None), TimeSpan.FromHours(1));

        var engine = (await jobs.OverviewAsync(CancellationToken.None)).Engine;

        Assert.Equal((2L, 1L, 0L, 0L), (engine.Enqueued, engine.Scheduled, engine.Processing, engine.Failed));
        Assert.Empty(engine.Servers); // no Hangfire server runs against this database
    }

    [Fact]
    public async Task CancelServerJob_QueuedAndScheduledJobsOfThatServer_DeletedOthersKeptWishKeptAudited()
    {
        var jobs = Service();
        var serverId = await new UsageRows(Database).ServerAsync("shiro", observed: "StartPending", desired: "Running", attempts: 2, lastError: "boom");
        var otherId = await new UsageRows(Database).ServerAsync("goro", observed: "StartPending", desired: "Running");
        var key = JobRequest.Server(serverId).Key;
        var queued = _client!.Enqueue<PortalJobRunner>(r => r.RunAsync(JobKind.Server, key, CancellationToken.None));
        var later = _client.Schedule<PortalJobRunner>(r => r.RunAsync(JobKind.Server, key, CancellationToken.None), TimeSpan.FromMinutes(5));
        var otherKey = JobRequest.Server(otherId).Key;
        var other = _client.Enqueue<PortalJobRunner>(r => r.RunAsync(JobKind.Server, otherKey, CancellationToken.None));

        Assert.Equal(JobActionResult.Done, await jobs.CancelServerJobAsync(serverId, Admin, CancellationToken.None));

        using (var connection = _storage!.GetConnection())
        {
            Assert.Equal(DeletedState.StateName, connection.GetStateData(queued).Name);
            Assert.Equal(DeletedState.StateName, connection.GetStateData(later).Name);
            Assert.Equal(EnqueuedState.StateName, connection.GetStateData(other).Name);
        }
        await using var db = Database.CreateDbContext();
        var server = await db.Servers.SingleAsync(s => s.Id == serverId);
        Assert.Equal((DesiredServerState.Running, ServerState.StartPending), (server.Desired, server.Observed));
        Assert.Equal(1, await AuditCountAsync(JobsAdministration.CancelAction, "server:shiro"));
        Assert.Equal(JobActionResult.NotFound, await jobs.CancelServerJobAsync(Guid.NewGuid(), Admin, CancellationToken.None));
    }

    [Fact]
    public async Task CancelServerJob_JobStoreNotAnswering_SchedulerUnavailableAndNothingAudited()
    {
        // The portal's rows answer; Hangfire's store is a closed port.
        var away = new NpgsqlConnectionStringBuilder(Database.ConnectionString) { Port = 1, Timeout = 2 }.ConnectionString;
        var jobs = Service(away);
        var serverId = await new UsageRows(Database).ServerAsync("rokuro", observed: "StartPending", desired: "Running", attempts: 1, lastError: "boom");

        Assert.Equal(JobActionResult.SchedulerUnavailable, await jobs.CancelServerJobAsync(serverId, Admin, CancellationToken.None));

        Assert.Equal(0, await AuditCountAsync(JobsAdministration.CancelAction, "server:rokuro"));
    }
}
