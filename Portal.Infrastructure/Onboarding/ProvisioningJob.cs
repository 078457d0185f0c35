using Microsoft.Extensions.Configuration;
using Quartz;

namespace Portal.Infrastructure.Onboarding;

/// <summary>
/// Provisions whatever approved applications are due. Runs every few seconds and at once after an approval;
/// never twice at the same time in the cluster.
/// </summary>
[DisallowConcurrentExecution]
public sealed class ProvisioningJob(ProvisioningService provisioning) : IJob
{
    public static readonly JobKey Key = new("provisioning", "onboarding");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        await provisioning.ProvisionDueAsync(cancellationToken);
}

public static class ProvisioningJobSetup
{
    public static IQuartzBuilder AddProvisioningJobs(this IQuartzBuilder quartz, IConfiguration configuration)
    {
        var seconds = Math.Max(1, configuration.GetValue($"{OnboardingOptions.Section}:ProvisioningSweepSeconds", 30));
        quartz.AddJob<ProvisioningJob>(job => job.WithIdentity(ProvisioningJob.Key).StoreDurably());
        quartz.AddTrigger(trigger => trigger.ForJob(ProvisioningJob.Key).WithIdentity("provisioning-sweep", "onboarding")
            .StartNow().WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromSeconds(seconds)).RepeatForever()));
        return quartz;
    }
}
