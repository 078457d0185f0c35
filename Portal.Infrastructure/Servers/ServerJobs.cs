using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Portal.Domain.Servers;
using Portal.Infrastructure.Persistence;
using Quartz;

namespace Portal.Infrastructure.Servers;

/// <summary>Asks for a server's job to run now.</summary>
public interface IServerJobTrigger
{
    Task ReconcileSoonAsync(Guid serverId, CancellationToken cancellationToken);
}

/// <summary>
/// One Quartz job per server, keyed by the server's id: a second click, a second tab or a second node adds a trigger
/// to the same job, and <c>[DisallowConcurrentExecution]</c> runs them one after another, so only one ever talks to
/// the backend for that server. The job looks again later by scheduling itself.
/// </summary>
[DisallowConcurrentExecution]
public sealed class ServerJob(ServerReconciler reconciler) : IJob
{
    public const string Group = "servers";
    public const string ServerIdKey = "serverId";

    public static JobKey KeyFor(Guid serverId) => new(serverId.ToString(), Group);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var serverId = Guid.Parse(context.JobDetail.Key.Name);
        var again = await reconciler.ReconcileAsync(serverId, cancellationToken);
        if (again is { } delay)
        {
            await context.Scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(context.JobDetail.Key)
                .StartAt(DateTimeOffset.UtcNow + delay).Build(), default, cancellationToken);
        }
    }
}

/// <summary>
/// Best effort: the wish is already in the database when this runs, so if the scheduler cannot take the trigger now
/// (database busy, node shutting down) the sweep starts the job within <see cref="ServerOptions.ReconcileInterval"/>.
/// </summary>
public sealed partial class QuartzServerJobTrigger(ISchedulerFactory schedulers, ILogger<QuartzServerJobTrigger> logger) : IServerJobTrigger
{
    public async Task ReconcileSoonAsync(Guid serverId, CancellationToken cancellationToken)
    {
        try
        {
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            var key = ServerJob.KeyFor(serverId);
            var job = JobBuilder.Create<ServerJob>().WithIdentity(key).StoreDurably().Build();
            await scheduler.AddJob(job, AddJobOptions.Replacing, cancellationToken);
            await scheduler.TriggerJob(key, cancellationToken);
        }
        catch (SchedulerException e)
        {
            LogTriggerFailed(logger, e, serverId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Could not start the job of server {ServerId} now; the sweep will")]
    private static partial void LogTriggerFailed(ILogger logger, Exception error, Guid serverId);
}

/// <summary>
/// Every minute and at portal start: every server that is not stopped gets its job run, which polls the backend and
/// fixes the record (a server that died is marked stopped with the reason; a start past its timeout fails).
/// </summary>
[DisallowConcurrentExecution]
public sealed class ServerSweepJob(IDbContextFactory<PortalDbContext> contexts, IServerJobTrigger jobs) : IJob
{
    public static readonly JobKey Key = new("server-sweep", ServerJob.Group);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var ids = await db.Servers.Where(s => s.Observed != ServerState.Stopped || db.GpuAssignments.Any(g => g.ServerId == s.Id))
            .Select(s => s.Id).ToListAsync(cancellationToken);
        foreach (var id in ids)
        {
            await jobs.ReconcileSoonAsync(id, cancellationToken);
        }
    }
}

/// <summary>Warns, then stops, servers idle longer than <see cref="ServerOptions.IdleTimeout"/>.</summary>
[DisallowConcurrentExecution]
public sealed class IdleCullJob(ServerService servers) : IJob
{
    public static readonly JobKey Key = new("idle-cull", ServerJob.Group);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        await servers.CullIdleAsync(cancellationToken);
}

public static class ServerJobSetup
{
    public static IQuartzBuilder AddServerJobs(this IQuartzBuilder quartz, IConfiguration configuration)
    {
        var interval = configuration.GetValue($"{ServerOptions.Section}:ReconcileInterval", TimeSpan.FromMinutes(1));
        quartz.AddJob<ServerSweepJob>(job => job.WithIdentity(ServerSweepJob.Key).StoreDurably());
        quartz.AddTrigger(trigger => trigger.ForJob(ServerSweepJob.Key).WithIdentity("server-sweep", ServerJob.Group)
            .StartNow().WithSimpleSchedule(s => s.WithInterval(interval).RepeatForever()));
        quartz.AddJob<IdleCullJob>(job => job.WithIdentity(IdleCullJob.Key).StoreDurably());
        quartz.AddTrigger(trigger => trigger.ForJob(IdleCullJob.Key).WithIdentity("idle-cull", ServerJob.Group)
            .StartNow().WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromMinutes(1)).RepeatForever()));
        return quartz;
    }
}
