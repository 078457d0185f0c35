using Microsoft.EntityFrameworkCore;
using Portal.Domain.Servers;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Api;

/// <summary>All users' servers, paged and filtered in the database, with the GPUs each holds.</summary>
public sealed class ServerListing(IDbContextFactory<PortalDbContext> contexts)
{
    public async Task<(IReadOnlyList<(UserServer Server, IReadOnlyList<int> Gpus)> Items, int Total)> PageAsync(
        ServerState? observed, int offset, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = db.Servers.AsNoTracking();
        if (observed is { } state)
        {
            q = q.Where(s => s.Observed == state);
        }
        var total = await q.CountAsync(cancellationToken);
        var servers = await q.OrderBy(s => s.Username).Skip(Math.Max(0, offset)).Take(Math.Clamp(limit, 1, 200)).ToListAsync(cancellationToken);
        var ids = servers.Select(s => s.Id).ToList();
        var gpus = (await db.GpuAssignments.AsNoTracking().Where(g => ids.Contains(g.ServerId)).ToListAsync(cancellationToken))
            .ToLookup(g => g.ServerId, g => g.GpuIndex);
        return (servers.Select(s => (s, (IReadOnlyList<int>)[.. gpus[s.Id].Order()])).ToList(), total);
    }
}
