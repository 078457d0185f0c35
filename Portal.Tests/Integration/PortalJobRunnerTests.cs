using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Infrastructure.Jobs;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// The runner on the real Hangfire tables and advisory locks of a migrated database (no Hangfire server runs here): what
/// it hands back to the queue after a run.
/// </summary>
public sealed class PortalJobRunnerTests : MigratedDatabaseTest
{
    private sealed class LookAgainJob(TimeSpan? again, Action? whileRunning = null) : IPortalJob
    {
        public int Runs { get; private set; }

        public JobKind Kind => JobKind.Server;

        public JobConcurrency Concurrency => JobConcurrency.OnePerKeyRunAgain;

        public Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
        {
            Runs++;
            whileRunning?.Invoke();
            return Task.FromResult(again);
        }
    }

    private (PortalJobRunner Runner, JobStorage Storage) Runner(IPortalJob job)
    {
        var options = new PostgreSqlStorageOptions { SchemaName = HangfireSchema.Name, PrepareSchemaIfNecessary = false };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(Database.ConnectionString, options), options);
        var runner = new PortalJobRunner([job], new JobLocks(Database.DataSource), new WaitingRuns(TimeProvider.System),
            new BackgroundJobClient(storage), Options.Create(new JobOptions()), NullLogger<PortalJobRunner>.Instance);
        return (runner, storage);
    }

    private static long Scheduled(JobStorage storage) => storage.GetMonitoringApi().ScheduledCount();

    [Fact]
    public async Task RunAsync_JobAsksToLookAgainLater_NextLookScheduled()
    {
        var job = new LookAgainJob(TimeSpan.FromSeconds(2));
        var (runner, storage) = Runner(job);

        await runner.RunAsync(JobKind.Server, Guid.NewGuid().ToString(), CancellationToken.None);

        Assert.Equal(1, job.Runs);
        Assert.Equal(1, Scheduled(storage));
    }

    [Fact]
    public async Task RunAsync_CancelledWhileRunning_NoNextLookScheduled()
    {
        using var deleted = new CancellationTokenSource();
        // An admin deletes the job while its step runs (Hangfire cancels its token); the step ends without noticing.
        var job = new LookAgainJob(TimeSpan.FromSeconds(2), whileRunning: deleted.Cancel);
        var (runner, storage) = Runner(job);

        await runner.RunAsync(JobKind.Server, Guid.NewGuid().ToString(), deleted.Token);

        Assert.Equal(1, job.Runs);
        Assert.Equal(0, Scheduled(storage));
    }

    [Fact]
    public async Task RunAsync_JobAsksForTheNextStepAtOnce_RunsItInThisRunUpToTheLimitThenEnqueues()
    {
        var job = new LookAgainJob(TimeSpan.Zero);
        var (runner, storage) = Runner(job);

        await runner.RunAsync(JobKind.Server, Guid.NewGuid().ToString(), CancellationToken.None);

        Assert.Equal(PortalJobRunner.StepsPerRun, job.Runs);
        Assert.Equal(1, storage.GetMonitoringApi().EnqueuedCount(Hangfire.States.EnqueuedState.DefaultQueue));
        Assert.Equal(0, Scheduled(storage));
    }
}
