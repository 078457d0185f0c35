using System.ComponentModel;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// The one Hangfire job of the portal: <c>RunAsync(kind, key)</c> finds the <see cref="IPortalJob"/> of the kind,
/// holds its lock (<see cref="JobLocks"/>) as <see cref="IPortalJob.Concurrency"/> says, runs it and schedules the next
/// look it asks for. An exception is Hangfire's to retry, with its growing delays; the jobs themselves record their
/// attempts and last error on the rows people look at (docs/decisions/0015-jobs-on-hangfire.md).
/// </summary>
public sealed partial class PortalJobRunner(
    IEnumerable<IPortalJob> jobs, JobLocks locks, WaitingRuns waiting, IBackgroundJobClient client, IOptions<JobOptions> options,
    ILogger<PortalJobRunner> logger)
{
    private readonly Dictionary<JobKind, IPortalJob> _jobs = jobs.ToDictionary(j => j.Kind);

    [DisplayName("{0} {1}")]
    [AutomaticRetry(Attempts = 10, OnAttemptsExceeded = AttemptsExceededAction.Fail)]
    public async Task RunAsync(JobKind kind, string key, CancellationToken cancellationToken)
    {
        if (!_jobs.TryGetValue(kind, out var job))
        {
            throw new InvalidOperationException($"No job of kind {kind} is registered.");
        }
        var request = new JobRequest(kind, key);
        // From here on, work asked for is not certain to be seen by this run: the next ask enqueues a run of its own.
        waiting.Clear(request);
        TimeSpan? again;
        if (job.Concurrency == JobConcurrency.Overlapping)
        {
            again = await RunWhileAskedAtOnceAsync(job, key, cancellationToken);
        }
        else
        {
            await using var held = await locks.TryAcquireAsync(kind, key, cancellationToken);
            if (held is null)
            {
                LogBusy(logger, request.ToString());
                if (job.Concurrency == JobConcurrency.OnePerKeyRunAgain)
                {
                    Schedule(request, options.Value.BusyRetryDelay, cancellationToken);
                }
                return;
            }
            again = await RunWhileAskedAtOnceAsync(job, key, cancellationToken);
        }
        if (again is { } delay)
        {
            Schedule(request, delay, cancellationToken);
        }
    }

    /// <summary>
    /// Runs the job, and again at once in this run (still holding its lock) while it asks for an immediate next step:
    /// a step that follows at once costs no new Hangfire job. After <see cref="StepsPerRun"/> steps the next one is
    /// handed back to the queue, so that one key never holds a worker for ever.
    /// </summary>
    private static async Task<TimeSpan?> RunWhileAskedAtOnceAsync(IPortalJob job, string key, CancellationToken cancellationToken)
    {
        TimeSpan? again = null;
        for (var step = 0; step < StepsPerRun; step++)
        {
            again = await job.RunAsync(key, cancellationToken);
            if (again != TimeSpan.Zero)
            {
                return again;
            }
        }
        return again;
    }

    /// <summary>Enqueues a run of the request on the given client; the one place that writes the runner's Hangfire job.</summary>
    public static string Enqueue(IBackgroundJobClient client, JobRequest request) =>
        client.Enqueue<PortalJobRunner>(r => r.RunAsync(request.Kind, request.Key, CancellationToken.None));

    /// <summary>The most steps asked for "at once" that one run takes before queueing the next.</summary>
    public const int StepsPerRun = 10;

    /// <summary>
    /// Throws when the store is away, so that Hangfire retries this run rather than the next look being lost. Nothing is
    /// scheduled from a run that was cancelled: an admin deleted its job (a cancel must not come back by the next look),
    /// or the node is stopping; the sweeps find the work that is left either way.
    /// </summary>
    private void Schedule(JobRequest request, TimeSpan delay, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        if (delay <= TimeSpan.Zero)
        {
            Enqueue(client, request);
        }
        else
        {
            client.Schedule<PortalJobRunner>(r => r.RunAsync(request.Kind, request.Key, CancellationToken.None), delay);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Job} is running elsewhere")]
    private static partial void LogBusy(ILogger logger, string job);
}
