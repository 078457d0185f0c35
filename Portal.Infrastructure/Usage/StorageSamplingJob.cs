using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Usage;

/// <summary>Every <c>Usage:StorageSampleInterval</c>: measures every home folder (<see cref="StorageSampler"/>).</summary>
public sealed class StorageSamplingJob(StorageSampler sampler) : IPortalJob
{
    public JobKind Kind => JobKind.StorageSampling;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeySkip;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        await sampler.SampleAllAsync(cancellationToken);
        return null;
    }
}
