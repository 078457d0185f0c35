using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Onboarding;

/// <summary>
/// Every <c>Onboarding:ProvisioningSweepSeconds</c> and at portal start: a job for every approved application whose
/// next attempt is due, so an approval whose enqueue was lost (the portal killed between commit and enqueue) is
/// provisioned all the same.
/// </summary>
public sealed class ProvisioningSweepJob(ProvisioningService provisioning, IJobTrigger jobs) : IPortalJob
{
    public JobKind Kind => JobKind.ProvisioningSweep;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeySkip;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        foreach (var id in await provisioning.DueAsync(cancellationToken))
        {
            await jobs.RunSoonAsync(JobRequest.Provisioning(id), cancellationToken);
        }
        return null;
    }
}
