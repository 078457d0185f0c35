using Microsoft.Extensions.Logging;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Mail;

/// <summary>
/// Sends the outbox's due mail (<see cref="MailDispatcher.DispatchDueAsync"/>), every
/// <see cref="MailOptions.DispatchIntervalSeconds"/> and whenever a mail is queued. Runs may overlap, on one node or
/// several: each message is claimed before it is sent, so two runs never send the same one.
/// </summary>
public sealed partial class MailDispatchJob(MailDispatcher dispatcher, ILogger<MailDispatchJob> logger) : IPortalJob
{
    public JobKind Kind => JobKind.MailDispatch;

    public JobConcurrency Concurrency => JobConcurrency.Overlapping;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await dispatcher.DispatchDueAsync(cancellationToken);
        }
        catch (Exception e) when (MailDispatcher.IsDatabaseFailure(e))
        {
            // The database is away: nothing is lost. A message already in hand keeps its claim and goes out again after
            // the claim expires; everything else waits for the next run.
            LogDatabaseUnavailable(logger, e);
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mail dispatch stopped: the database did not answer; the next run tries again.")]
    private static partial void LogDatabaseUnavailable(ILogger logger, Exception exception);
}
