using System.Globalization;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Onboarding;

/// <summary>
/// Creates the account of one approved application: one job per application, so many approvals provision in
/// parallel up to the worker count. A failure is recorded on the application with its backoff, and the provisioning
/// sweep enqueues the application again when that ends: one path for retries, so they never multiply.
/// </summary>
public sealed class ProvisioningJob(ProvisioningService provisioning) : IPortalJob
{
    public JobKind Kind => JobKind.Provisioning;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeyRunAgain;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        await provisioning.ProvisionAsync(Guid.Parse(key, CultureInfo.InvariantCulture), cancellationToken);
        return null;
    }
}
