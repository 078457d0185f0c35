using Microsoft.EntityFrameworkCore;
using Portal.Domain.Servers;
using Portal.Infrastructure.Jobs;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Servers;

/// <summary>
/// Every <see cref="ServerOptions.ReconcileInterval"/> and at portal start: every server that is not stopped (or still
/// holds a GPU) gets its job, which polls the backend and fixes the record (a server that died is marked stopped with
/// the reason; a start past its timeout fails). It also finds a wish whose enqueue was lost.
/// </summary>
public sealed class ServerSweepJob(IDbContextFactory<PortalDbContext> contexts, IJobTrigger jobs) : IPortalJob
{
    public JobKind Kind => JobKind.ServerSweep;

    public JobConcurrency Concurrency => JobConcurrency.OnePerKeySkip;

    public async Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken)
    {
        List<Guid> ids;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            ids = await db.Servers.Where(s => s.Observed != ServerState.Stopped || db.GpuAssignments.Any(g => g.ServerId == s.Id))
                .Select(s => s.Id).ToListAsync(cancellationToken);
        }
        foreach (var id in ids)
        {
            await jobs.RunSoonAsync(JobRequest.Server(id), cancellationToken);
        }
        return null;
    }
}
