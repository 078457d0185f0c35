using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Portal.Infrastructure.Mail;

/// <summary>Asks for queued mail to be sent now rather than at the dispatcher's next regular run.</summary>
public interface IMailDispatchTrigger
{
    /// <summary>
    /// Best effort and cheap: it never throws for a scheduler that is missing or down, since the recurring run
    /// sends the mail anyway within <see cref="MailOptions.DispatchIntervalSeconds"/>.
    /// </summary>
    Task RequestDispatchAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Fires <see cref="MailDispatchJob"/> once now through Quartz (<c>TriggerJob</c>), so in a cluster whichever node
/// is free runs it, and <c>[DisallowConcurrentExecution]</c> still holds. Without a Quartz scheduler in the
/// container (a tool, a test host) it does nothing.
/// </summary>
public sealed partial class QuartzMailDispatchTrigger(IServiceProvider services, ILogger<QuartzMailDispatchTrigger> logger) : IMailDispatchTrigger
{
    public async Task RequestDispatchAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<ISchedulerFactory>() is not { } factory)
        {
            return;
        }
        try
        {
            var scheduler = await factory.GetScheduler(cancellationToken);
            await scheduler.TriggerJob(MailDispatchJob.Key, cancellationToken);
        }
        catch (Exception e) when (e is SchedulerException or InvalidOperationException)
        {
            LogTriggerFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not ask for an immediate mail dispatch; the next regular run sends the mail.")]
    private static partial void LogTriggerFailed(ILogger logger, Exception exception);
}
