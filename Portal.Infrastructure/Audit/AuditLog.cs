using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Audit;

/// <summary>Who is acting, and from where; carried from the request to every audit record it causes.</summary>
public sealed record AuditActor(string Name, string? SourceAddress)
{
    public static AuditActor System { get; } = new(AuditEvent.System, null);
}

/// <summary>Writes audit events. Callers pass details as an object; it is stored as JSON and must never hold a secret.</summary>
public sealed class AuditLog(IDbContextFactory<PortalDbContext> contexts, TimeProvider clock)
{
    public async Task RecordAsync(AuditActor actor, string action, string? target, object? data, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.AuditEvents.Add(AuditEvent.Record(clock.GetUtcNow(), actor.Name, action, target,
            JsonSerializer.Serialize(data ?? new { }), actor.SourceAddress));
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>One page of events, newest first, filtered in the database.</summary>
    public async Task<(IReadOnlyList<AuditEvent> Items, int Total)> PageAsync(string? search, int skip, int take, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.AuditEvents.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(search))
        {
            var pattern = $"%{Like.Escape(search.Trim())}%";
            query = query.Where(e => EF.Functions.ILike(e.Actor, pattern, "\\")
                || EF.Functions.ILike(e.Action, pattern, "\\")
                || (e.Target != null && EF.Functions.ILike(e.Target, pattern, "\\")));
        }
        var total = await query.CountAsync(cancellationToken);
        var items = await query.OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id)
            .Skip(skip).Take(take).ToListAsync(cancellationToken);
        return (items, total);
    }
}
