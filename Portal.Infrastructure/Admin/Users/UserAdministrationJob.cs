using Portal.Domain.Accounts;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>
/// Brings one account's directory state to what an admin decided. One run per user in the cluster; after a failure
/// it looks again with a backoff, and the attempts and the last error are on the account row, where the user page
/// shows them.
/// </summary>
public sealed class UserAdministrationJob(UserDirectorySync sync) : IPortalJob
{
    public JobKind Kind => JobKind.UserAdministration;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeyRunAgain;

    public Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken) =>
        sync.SyncAsync(Username.Parse(key), cancellationToken);
}
