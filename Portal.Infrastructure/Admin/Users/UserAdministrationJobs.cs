using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Domain.Accounts;
using Quartz;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>Asks for a user's administration job to run now.</summary>
public interface IUserAdministrationTrigger
{
    Task SyncSoonAsync(Username username, CancellationToken cancellationToken);
}

/// <summary>
/// One durable Quartz job per user, keyed by the username: a second click adds a trigger to the same job and
/// <c>[DisallowConcurrentExecution]</c> runs them one after the other. After a failure the job schedules itself again
/// with a backoff; the attempts and the last error are on the account row, where the user page shows them.
/// </summary>
[DisallowConcurrentExecution]
public sealed class UserAdministrationJob(UserDirectorySync sync) : IJob
{
    public const string Group = "user-admin";

    public static JobKey KeyFor(Username username) => new(username.Value, Group);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var username = Username.Parse(context.JobDetail.Key.Name);
        if (await sync.SyncAsync(username, cancellationToken) is { } delay)
        {
            await context.Scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(context.JobDetail.Key)
                .StartAt(DateTimeOffset.UtcNow + delay).Build(), default, cancellationToken);
        }
    }
}

/// <summary>Best effort: the wish is in the database already, so the sweep catches up if the scheduler is busy.</summary>
public sealed partial class QuartzUserAdministrationTrigger(ISchedulerFactory schedulers, ILogger<QuartzUserAdministrationTrigger> logger)
    : IUserAdministrationTrigger
{
    public async Task SyncSoonAsync(Username username, CancellationToken cancellationToken)
    {
        try
        {
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            var key = UserAdministrationJob.KeyFor(username);
            var job = JobBuilder.Create<UserAdministrationJob>().WithIdentity(key).StoreDurably().Build();
            await scheduler.AddJob(job, AddJobOptions.Replacing, cancellationToken);
            await scheduler.TriggerJob(key, cancellationToken);
        }
        catch (SchedulerException e)
        {
            LogTriggerFailed(logger, e, username.Value);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not start the administration job of {Username} now; the sweep will")]
    private static partial void LogTriggerFailed(ILogger logger, Exception error, string username);
}

/// <summary>Every minute and at start: every user whose directory state lags behind gets their job run.</summary>
[DisallowConcurrentExecution]
public sealed class UserAdministrationSweepJob(UserDirectorySync sync, IUserAdministrationTrigger jobs) : IJob
{
    public static readonly JobKey Key = new("user-admin-sweep", UserAdministrationJob.Group);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        foreach (var username in await sync.PendingAsync(cancellationToken))
        {
            await jobs.SyncSoonAsync(username, cancellationToken);
        }
    }
}

public static class UserAdministrationSetup
{
    /// <summary>The services of user administration (called from DependencyInjection).</summary>
    public static IServiceCollection AddUserAdministration(this IServiceCollection services)
    {
        services.AddSingleton<UserAdminService>();
        services.AddSingleton<UserDirectorySync>();
        services.AddSingleton<IUserAdministrationTrigger, QuartzUserAdministrationTrigger>();
        return services;
    }

    /// <summary>The sweep of user administration jobs (called from JobsSetup).</summary>
    public static IQuartzBuilder AddUserAdministrationJobs(this IQuartzBuilder quartz)
    {
        quartz.AddJob<UserAdministrationSweepJob>(job => job.WithIdentity(UserAdministrationSweepJob.Key).StoreDurably());
        quartz.AddTrigger(trigger => trigger.ForJob(UserAdministrationSweepJob.Key).WithIdentity("user-admin-sweep", UserAdministrationJob.Group)
            .StartNow().WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromMinutes(1)).RepeatForever()));
        return quartz;
    }
}
