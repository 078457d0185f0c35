using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Servers;

/// <summary>A user's limits: the default plan (or the plan their override names), with single limits overridden.</summary>
public sealed class QuotaService(IDbContextFactory<PortalDbContext> contexts, GpuInventory gpus)
{
    public async Task<(ResourcePlan Plan, ResourceLimits Limits)> ForAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var overrides = await db.QuotaOverrides.AsNoTracking().SingleOrDefaultAsync(q => q.Username == username, cancellationToken);
        var plan = await db.ResourcePlans.AsNoTracking()
            .SingleAsync(p => overrides != null && overrides.PlanName != null ? p.Name == overrides.PlanName : p.IsDefault, cancellationToken);
        return (plan, QuotaOverride.Effective(plan, overrides));
    }

    /// <summary>
    /// The most GPUs of <paramref name="model"/> (any model when null) that one server can ever be given: every server's
    /// GPUs come from the node's inventory, matched by model as <see cref="GpuAllocator.Pick"/> matches them. A limit
    /// above this would leave the person with "no GPU free" for good.
    /// </summary>
    public int LargestGpuCount(string? model) =>
        gpus.Devices.Count(g => model is null || string.Equals(g.Model, model, StringComparison.OrdinalIgnoreCase));
}
