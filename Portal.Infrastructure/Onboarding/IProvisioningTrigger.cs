using Quartz;

namespace Portal.Infrastructure.Onboarding;

/// <summary>Asks for a provisioning run now instead of at the next sweep.</summary>
public interface IProvisioningTrigger
{
    Task ProvisionSoonAsync(CancellationToken cancellationToken);
}

/// <summary>Fires the Quartz provisioning job once; the job itself reads what is due from the database.</summary>
public sealed class QuartzProvisioningTrigger(ISchedulerFactory schedulers) : IProvisioningTrigger
{
    public async Task ProvisionSoonAsync(CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await scheduler.TriggerJob(ProvisioningJob.Key, cancellationToken);
    }
}
