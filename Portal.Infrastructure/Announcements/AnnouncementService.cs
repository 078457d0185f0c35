using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Announcements;
using Portal.Domain.Common;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Announcements;

/// <summary>What every page's banner shows: the announcements in their window now, and the maintenance switch.</summary>
public sealed record BannerState(IReadOnlyList<Announcement> Active, MaintenanceMode Maintenance);

public enum AnnouncementChangeResult
{
    Done,
    NotFound,

    /// <summary>Another admin changed it first; nothing changed now.</summary>
    Conflict,

    /// <summary>The move is not possible now (ending one that is not running, turning off what is off).</summary>
    NotAllowed,
}

/// <summary>
/// Announcements and maintenance mode (admins edit, everyone signed in sees). The banner's state is cached for a
/// few seconds per portal node, so rendering a page does not query the database each time; every change made through
/// this service drops the cache at once (another node sees it within <see cref="CacheFor"/>).
/// </summary>
public sealed class AnnouncementService(IDbContextFactory<PortalDbContext> contexts, TimeProvider clock)
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private (BannerState State, DateTimeOffset Until)? _cached;

    public async Task<BannerState> BannerAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            if (_cached is { } cached && cached.Until > now)
            {
                return cached.State with { Active = [.. cached.State.Active.Where(a => a.IsActiveAt(now))] };
            }
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Everything that is or will be active within the cache period, so an announcement starting in 2 s shows on time.
        var horizon = now + CacheFor;
        var upcoming = await db.Announcements.AsNoTracking().Where(a => a.EndsAt > now && a.StartsAt <= horizon)
            .OrderByDescending(a => a.Severity).ThenBy(a => a.StartsAt).Take(20).ToListAsync(cancellationToken);
        var maintenance = await db.MaintenanceModes.AsNoTracking().SingleOrDefaultAsync(m => m.Id == MaintenanceMode.SingletonId, cancellationToken)
            ?? MaintenanceMode.Off;
        var state = new BannerState(upcoming, maintenance);
        lock (_gate)
        {
            _cached = (state, now + CacheFor);
        }
        return state with { Active = [.. upcoming.Where(a => a.IsActiveAt(now))] };
    }

    /// <summary>The switch as stored now (no cache): what a server start checks.</summary>
    public async Task<MaintenanceMode> MaintenanceAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.MaintenanceModes.AsNoTracking().SingleOrDefaultAsync(m => m.Id == MaintenanceMode.SingletonId, cancellationToken)
            ?? MaintenanceMode.Off;
    }

    public void Invalidate()
    {
        lock (_gate)
        {
            _cached = null;
        }
    }

    public async Task<(IReadOnlyList<Announcement> Items, int Total)> PageAsync(int offset, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var total = await db.Announcements.CountAsync(cancellationToken);
        var items = await db.Announcements.AsNoTracking().OrderByDescending(a => a.StartsAt).ThenBy(a => a.Id)
            .Skip(Math.Max(0, offset)).Take(Math.Clamp(limit, 1, 200)).ToListAsync(cancellationToken);
        return (items, total);
    }

    /// <exception cref="InvalidValueException">A text is empty or too long, or the end is not after the start; nothing is stored.</exception>
    public async Task<Announcement> CreateAsync(AnnouncementSeverity severity, string? textEn, string? textJa, DateTimeOffset startsAt, DateTimeOffset endsAt,
        Username admin, string? sourceAddress, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var announcement = Announcement.Create(severity, textEn, textJa, startsAt, endsAt, admin, now);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.Announcements.Add(announcement);
        AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), "admin.announcement.create", $"announcement:{announcement.Id}", Describe(announcement), now);
        await db.SaveChangesAsync(cancellationToken);
        Invalidate();
        return announcement;
    }

    /// <exception cref="InvalidValueException">As for <see cref="CreateAsync"/>; nothing is changed.</exception>
    public Task<AnnouncementChangeResult> EditAsync(Guid id, int version, AnnouncementSeverity severity, string? textEn, string? textJa,
        DateTimeOffset startsAt, DateTimeOffset endsAt, Username admin, string? sourceAddress, CancellationToken cancellationToken) =>
        ChangeAsync(id, version, admin, sourceAddress, "admin.announcement.edit", (a, now) => a.Edit(severity, textEn, textJa, startsAt, endsAt, admin, now), cancellationToken);

    public Task<AnnouncementChangeResult> EndEarlyAsync(Guid id, int version, Username admin, string? sourceAddress, CancellationToken cancellationToken) =>
        ChangeAsync(id, version, admin, sourceAddress, "admin.announcement.end", (a, now) => a.EndEarly(admin, now), cancellationToken);

    public async Task<AnnouncementChangeResult> DeleteAsync(Guid id, Username admin, string? sourceAddress, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var announcement = await db.Announcements.SingleOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (announcement is null)
        {
            return AnnouncementChangeResult.NotFound;
        }
        var now = clock.GetUtcNow();
        db.Announcements.Remove(announcement);
        AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), "admin.announcement.delete", $"announcement:{id}", Describe(announcement), now);
        return await CommitAsync(db, cancellationToken);
    }

    /// <summary>Turns maintenance on (with its message) or off.</summary>
    /// <exception cref="InvalidValueException">Turning on without both messages; nothing changed.</exception>
    public async Task<AnnouncementChangeResult> SetMaintenanceAsync(bool enabled, string? messageEn, string? messageJa, Username admin, string? sourceAddress,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var mode = await db.MaintenanceModes.SingleAsync(m => m.Id == MaintenanceMode.SingletonId, cancellationToken);
        var now = clock.GetUtcNow();
        try
        {
            if (enabled)
            {
                mode.TurnOn(messageEn, messageJa, admin, now);
            }
            else
            {
                mode.TurnOff(admin, now);
            }
        }
        catch (InvalidTransitionException)
        {
            return AnnouncementChangeResult.NotAllowed;
        }
        AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), enabled ? "admin.maintenance.on" : "admin.maintenance.off", "maintenance",
            new { enabled, messageEn = mode.MessageEn, messageJa = mode.MessageJa }, now);
        return await CommitAsync(db, cancellationToken);
    }

    private async Task<AnnouncementChangeResult> ChangeAsync(Guid id, int version, Username admin, string? sourceAddress, string action,
        Action<Announcement, DateTimeOffset> change, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var announcement = await db.Announcements.SingleOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (announcement is null)
        {
            return AnnouncementChangeResult.NotFound;
        }
        if (announcement.Version != version)
        {
            return AnnouncementChangeResult.Conflict;
        }
        var now = clock.GetUtcNow();
        try
        {
            change(announcement, now);
        }
        catch (InvalidTransitionException)
        {
            return AnnouncementChangeResult.NotAllowed;
        }
        AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), action, $"announcement:{id}", Describe(announcement), now);
        return await CommitAsync(db, cancellationToken);
    }

    private static object Describe(Announcement a) =>
        new { severity = a.Severity.ToString(), textEn = a.TextEn, textJa = a.TextJa, startsAt = a.StartsAt, endsAt = a.EndsAt };

    /// <summary>Saves; someone else's change in between is a conflict (nothing written). The banner cache is dropped on success.</summary>
    private async Task<AnnouncementChangeResult> CommitAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return AnnouncementChangeResult.Conflict;
        }
        Invalidate();
        return AnnouncementChangeResult.Done;
    }
}
