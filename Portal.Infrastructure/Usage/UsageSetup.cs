using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Portal.Infrastructure.Usage;

/// <summary>Measures every home folder (<see cref="StorageSampler"/>); one run at a time across the cluster.</summary>
[DisallowConcurrentExecution]
public sealed class StorageSamplingJob(StorageSampler sampler) : IJob
{
    public static readonly JobKey Key = new("storage-sampling", "usage");

    public static readonly TriggerKey TriggerKey = new("storage-sampling-every-interval", "usage");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        await sampler.SampleAllAsync(cancellationToken);
}

public static class UsageSetup
{
    /// <summary>The usage services: <see cref="UsageQueries"/>, <see cref="StorageSampler"/> and their options.</summary>
    public static IServiceCollection AddUsage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<UsageOptions>().Bind(configuration.GetSection(UsageOptions.Section))
            .Validate(o => o.StorageSampleInterval >= TimeSpan.FromMinutes(1), $"{UsageOptions.Section}:StorageSampleInterval must be at least a minute.")
            .Validate(o => o.StorageWalkTimeout > TimeSpan.Zero, $"{UsageOptions.Section}:StorageWalkTimeout must be positive.")
            .ValidateOnStart();
        services.AddSingleton<UsageQueries>();
        services.AddSingleton<StorageSampler>();
        return services;
    }

    /// <summary>The recurring <see cref="StorageSamplingJob"/>, every <c>Usage:StorageSampleInterval</c> (default 1 h).</summary>
    public static IQuartzBuilder AddUsageJobs(this IQuartzBuilder quartz, IConfiguration configuration)
    {
        var interval = configuration.GetValue($"{UsageOptions.Section}:{nameof(UsageOptions.StorageSampleInterval)}", TimeSpan.FromHours(1));
        interval = interval < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : interval;
        quartz.AddJob<StorageSamplingJob>(job => job.WithIdentity(StorageSamplingJob.Key).StoreDurably());
        quartz.AddTrigger(trigger => trigger.ForJob(StorageSamplingJob.Key).WithIdentity(StorageSamplingJob.TriggerKey)
            .StartNow().WithSimpleSchedule(s => s.WithInterval(interval).RepeatForever()));
        return quartz;
    }
}
