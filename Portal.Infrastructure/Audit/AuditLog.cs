using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Audit;

/// <summary>Who is acting, and from where; carried from the request to every audit record it causes.</summary>
public sealed record AuditActor(string Name, string? SourceAddress)
{
    public static AuditActor System { get; } = new(AuditEvent.System, null);

    /// <summary>Someone not signed in (an applicant, a failed sign-in), known only by where they came from.</summary>
    public static AuditActor Anonymous(string? sourceAddress) => new(AuditEvent.Anonymous, sourceAddress);
}

/// <summary>Writes audit events. Callers pass details as an object; it is stored as JSON and must never hold a secret.</summary>
public sealed class AuditLog(IDbContextFactory<PortalDbContext> contexts, TimeProvider clock)
{
    /// <summary>Records an event on its own, committed at once: for what has no state change of its own to commit with.</summary>
    public async Task RecordAsync(AuditActor actor, string action, string? target, object? data, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        Stage(db, actor, action, target, data, clock.GetUtcNow());
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// Adds the event to <paramref name="db"/> without saving, so that it commits (or not) together with the change
    /// it records, in the caller's <c>SaveChanges</c> or transaction: no change without its record, and no record of
    /// a change that was rolled back. <paramref name="data"/> null is stored as <c>{}</c>.
    /// </summary>
    public static AuditEvent Stage(PortalDbContext db, AuditActor actor, string action, string? target, object? data, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(actor);
        var audit = AuditEvent.Record(at, actor.Name, action, target, JsonSerializer.Serialize(data ?? new { }), actor.SourceAddress);
        db.AuditEvents.Add(audit);
        return audit;
    }

    /// <summary>One page of events, newest first, filtered in the database.</summary>
    public Task<(IReadOnlyList<AuditEvent> Items, int Total)> PageAsync(string? search, int skip, int take, CancellationToken cancellationToken) =>
        PageAsync(new AuditQuery(Search: search), skip, take, cancellationToken);

    public async Task<(IReadOnlyList<AuditEvent> Items, int Total)> PageAsync(AuditQuery filter, int skip, int take, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = Filter(db, filter);
        var total = await query.CountAsync(cancellationToken);
        var items = await query.OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id)
            .Skip(Math.Max(0, skip)).Take(Math.Clamp(take, 1, 500)).ToListAsync(cancellationToken);
        return (items, total);
    }

    /// <summary>Every matching event, newest first, streamed from the database (at most <see cref="ExportLimit"/>).</summary>
    public async IAsyncEnumerable<AuditEvent> ExportAsync(AuditQuery filter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await foreach (var e in Filter(db, filter).OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id)
            .Take(ExportLimit).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            yield return e;
        }
    }

    public const int ExportLimit = 100_000;

    private static IQueryable<AuditEvent> Filter(PortalDbContext db, AuditQuery filter)
    {
        var query = db.AuditEvents.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(filter.Actor))
        {
            query = query.Where(e => e.Actor == filter.Actor.Trim());
        }
        if (!string.IsNullOrWhiteSpace(filter.Action))
        {
            var prefix = $"{Like.Escape(filter.Action.Trim())}%";
            query = query.Where(e => EF.Functions.Like(e.Action, prefix, "\\"));
        }
        if (!string.IsNullOrWhiteSpace(filter.Target))
        {
            var target = $"%{Like.Escape(filter.Target.Trim())}%";
            query = query.Where(e => e.Target != null && EF.Functions.ILike(e.Target, target, "\\"));
        }
        if (filter.From is { } from)
        {
            query = query.Where(e => e.OccurredAt >= from);
        }
        if (filter.To is { } to)
        {
            query = query.Where(e => e.OccurredAt < to);
        }
        if (!string.IsNullOrWhiteSpace(filter.Search))
        {
            var pattern = $"%{Like.Escape(filter.Search.Trim())}%";
            query = query.Where(e => EF.Functions.ILike(e.Actor, pattern, "\\")
                || EF.Functions.ILike(e.Action, pattern, "\\")
                || (e.Target != null && EF.Functions.ILike(e.Target, pattern, "\\")));
        }
        return query;
    }
}

/// <summary>
/// Filters of the audit log: an exact actor, an action prefix (<c>server.</c> matches every server action), part of
/// the target, a period [From, To), and free text over actor, action and target.
/// </summary>
public sealed record AuditQuery(string? Actor = null, string? Action = null, string? Target = null,
    DateTimeOffset? From = null, DateTimeOffset? To = null, string? Search = null);
