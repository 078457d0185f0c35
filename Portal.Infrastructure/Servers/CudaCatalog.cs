using Microsoft.EntityFrameworkCore;
using Portal.Domain.Servers;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Servers;

/// <summary>One catalog entry as a user sees it: usable, or why not.</summary>
public sealed record ToolkitChoice(CudaToolkit Toolkit, ToolkitRefusal? Refusal);

/// <summary>The CUDA toolkit catalog, judged against the node's driver and a backend.</summary>
public sealed class CudaCatalog(IDbContextFactory<PortalDbContext> contexts, GpuInventory gpus)
{
    /// <summary>The oldest driver among the node's GPUs (what a toolkit must run on), or null when there are none.</summary>
    public string? DriverVersion =>
        gpus.Devices.Select(g => g.DriverVersion).Where(v => v.Length > 0 && v != "0")
            .OrderBy(v => v, Comparer<string>.Create(CudaToolkit.CompareDriver)).FirstOrDefault();

    public async Task<IReadOnlyList<ToolkitChoice>> ChoicesAsync(string backend, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var toolkits = await db.CudaToolkits.AsNoTracking().ToListAsync(cancellationToken);
        var driver = DriverVersion;
        return [.. toolkits.OrderByDescending(t => t.Version, Comparer<string>.Create(CudaToolkit.CompareDriver))
            .Select(t => new ToolkitChoice(t, t.RefusalFor(backend, driver)))];
    }

    /// <summary>The entry for <paramref name="version"/> and whether it may be used on <paramref name="backend"/>; the server's own check.</summary>
    public async Task<(CudaToolkit? Toolkit, ToolkitRefusal? Refusal)> CheckAsync(string? version, string backend, CancellationToken cancellationToken)
    {
        if (!CudaToolkit.IsVersion(version))
        {
            return (null, ToolkitRefusal.NotInCatalog);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var toolkit = await db.CudaToolkits.AsNoTracking().SingleOrDefaultAsync(t => t.Version == version, cancellationToken);
        return toolkit is null ? (null, ToolkitRefusal.NotInCatalog) : (toolkit, toolkit.RefusalFor(backend, DriverVersion));
    }
}
