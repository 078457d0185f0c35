using System.Globalization;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Servers;

/// <summary>
/// Brings one server toward what its user asked for. One run per server in the cluster (a start and a stop of one
/// server never overlap); the reconciler says when to look again while the backend is still busy.
/// </summary>
public sealed class ServerJob(ServerReconciler reconciler) : IPortalJob
{
    public JobKind Kind => JobKind.Server;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeyRunAgain;

    public Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken) =>
        reconciler.ReconcileAsync(Guid.Parse(key, CultureInfo.InvariantCulture), cancellationToken);
}
