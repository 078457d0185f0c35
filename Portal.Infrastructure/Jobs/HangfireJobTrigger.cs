using Hangfire;
using Microsoft.Extensions.Logging;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// Enqueues <see cref="PortalJobRunner.RunAsync"/> for the request; the enqueue NOTIFYs every node's idle workers, so
/// the job starts within milliseconds on whichever is free. An ask for a coalescing kind while this node's last run of
/// it still waits adds nothing (<see cref="WaitingRuns"/>).
/// </summary>
public sealed partial class HangfireJobTrigger(IBackgroundJobClient client, WaitingRuns waiting, ILogger<HangfireJobTrigger> logger) : IJobTrigger
{
    public Task RunSoonAsync(JobRequest request, CancellationToken cancellationToken)
    {
        if (!waiting.TryMarkWaiting(request))
        {
            return Task.CompletedTask;
        }
        try
        {
            PortalJobRunner.Enqueue(client, request);
        }
        catch (Exception e) when (e is BackgroundJobClientException or InvalidOperationException)
        {
            waiting.Clear(request);
            LogEnqueueFailed(logger, e, request.ToString());
        }
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not enqueue {Job} now; its sweep will find the work")]
    private static partial void LogEnqueueFailed(ILogger logger, Exception error, string job);
}
