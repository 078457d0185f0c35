using Microsoft.Extensions.Logging;
using Quartz;

namespace Portal.Infrastructure.Mail;

/// <summary>
/// Sends the outbox's due mail (<see cref="MailDispatcher.DispatchDueAsync"/>), every
/// <see cref="MailOptions.DispatchIntervalSeconds"/> and whenever <see cref="IMailDispatchTrigger"/> asks.
/// One run at a time across the cluster; the claims on the messages would keep two runs apart anyway. The sending
/// itself stays in <see cref="MailDispatcher"/>, so the job engine can change without touching it.
/// </summary>
[DisallowConcurrentExecution]
public sealed partial class MailDispatchJob(MailDispatcher dispatcher, ILogger<MailDispatchJob> logger) : IJob
{
    public static readonly JobKey Key = new("mail-dispatch", "mail");

    public static readonly TriggerKey TriggerKey = new("mail-dispatch-every-interval", "mail");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
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
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mail dispatch stopped: the database did not answer; the next run tries again.")]
    private static partial void LogDatabaseUnavailable(ILogger logger, Exception exception);
}
