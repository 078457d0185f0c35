using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Audit;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Tests.Audit;

/// <summary>Staging touches no database (nothing is sent before the caller saves), so these tests need none.</summary>
public sealed class AuditStageTests
{
    private static readonly DateTimeOffset At = new(2026, 4, 1, 9, 30, 0, TimeSpan.Zero);

    /// <summary>A context that would fail on any round trip; staging must not make one.</summary>
    public static PortalDbContext Unconnected() =>
        new(new DbContextOptionsBuilder<PortalDbContext>().UseNpgsql("Host=unused.invalid;Database=none").Options);

    [Fact]
    public void Stage_AddsTheEventToTheCallersContext_Unsaved()
    {
        using var db = Unconnected();

        var staged = AuditLog.Stage(db, new AuditActor("admin", "192.0.2.1"), "admin.user.quota", "taro", new { version = 2 }, At);

        var entry = Assert.Single(db.ChangeTracker.Entries<AuditEvent>());
        Assert.Same(staged, entry.Entity);
        Assert.Equal(EntityState.Added, entry.State);
        Assert.Equal(("admin", "admin.user.quota", "taro", """{"version":2}""", "192.0.2.1", At),
            (staged.Actor, staged.Action, staged.Target, staged.Data, staged.SourceAddress, staged.OccurredAt));
    }

    [Fact]
    public void Stage_WithoutData_StoresAnEmptyObject()
    {
        using var db = Unconnected();

        Assert.Equal("{}", AuditLog.Stage(db, AuditActor.System, "server.stop-requested", "server:taro", null, At).Data);
    }

    [Fact]
    public void Stage_StoresWhatSerializingTheObjectItselfGives()
    {
        // Passed as object, the data is serialized by its runtime type: the stored text must be the same as when each
        // caller serialized its own anonymous object (lazy sequences, nulls, dates and non-ASCII included).
        using var db = Unconnected();
        var data = new { backend = "local", cuda = (string?)null, gpus = new[] { 0, 3 }.Select(i => i), at = At, note = "日本語 <&> \"q\"", n = 1.5m };

        Assert.Equal(JsonSerializer.Serialize(data), AuditLog.Stage(db, AuditActor.System, "x.y", null, data, At).Data);
    }

    [Fact]
    public void Actors_SystemAndAnonymous_AreTheDomainsNames()
    {
        Assert.Equal(new AuditActor(AuditEvent.System, null), AuditActor.System);
        Assert.Equal(new AuditActor(AuditEvent.Anonymous, "192.0.2.9"), AuditActor.Anonymous("192.0.2.9"));
    }
}
