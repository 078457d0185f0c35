using Microsoft.Extensions.Logging;
using Npgsql;
using Quartz;

namespace Portal.Infrastructure.Mail;

/// <summary>
/// Sends the outbox's due mail (<see cref="MailDispatcher.DispatchDueAsync"/>), every
/// <see cref="MailOptions.DispatchIntervalSeconds"/> and whenever <see cref="IMailDispatchTrigger"/> asks.
/// One run at a time across the cluster; the row locks would keep two runs apart anyway.
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
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // The database is away: nothing was lost (no row changed), and the next run tries again.
            LogDatabaseUnavailable(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mail dispatch skipped: the database did not answer; the next run tries again.")]
    private static partial void LogDatabaseUnavailable(ILogger logger, Exception exception);
}
