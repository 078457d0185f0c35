using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Servers;

/// <summary>Every minute: warns, then stops, servers idle longer than <see cref="ServerOptions.IdleTimeout"/>.</summary>
public sealed class IdleCullJob(ServerService servers) : IPortalJob
{
    public JobKind Kind => JobKind.IdleCull;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeySkip;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        await servers.CullIdleAsync(cancellationToken);
        return null;
    }
}
