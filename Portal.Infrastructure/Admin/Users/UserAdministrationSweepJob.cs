using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>Every minute and at portal start: a job for every account whose directory state lags behind.</summary>
public sealed class UserAdministrationSweepJob(UserDirectorySync sync, IJobTrigger jobs) : IPortalJob
{
    public JobKind Kind => JobKind.UserAdministrationSweep;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeySkip;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        foreach (var username in await sync.PendingAsync(cancellationToken))
        {
            await jobs.RunSoonAsync(JobRequest.UserAdministration(username), cancellationToken);
        }
        return null;
    }
}
