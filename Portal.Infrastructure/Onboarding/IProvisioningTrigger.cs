using Quartz;

namespace Portal.Infrastructure.Onboarding;

/// <summary>Asks for a provisioning run now instead of at the next sweep.</summary>
public interface IProvisioningTrigger
{
    Task ProvisionSoonAsync(CancellationToken cancellationToken);
}

/// <summary>Fires the Quartz provisioning job once; the job itself reads what is due from the database.
/// Best effort: if the scheduler cannot be reached the recurring sweep provisions anyway, so the decision stands.</summary>
public sealed class QuartzProvisioningTrigger(ISchedulerFactory schedulers) : IProvisioningTrigger
{
    public async Task ProvisionSoonAsync(CancellationToken cancellationToken)
    {
        try
        {
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            await scheduler.TriggerJob(ProvisioningJob.Key, cancellationToken);
        }
        catch (SchedulerException)
        {
            // The sweep (Onboarding:ProvisioningSweepSeconds) picks the application up.
        }
    }
}
