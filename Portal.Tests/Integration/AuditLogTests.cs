using Npgsql;
using Portal.Infrastructure.Audit;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

public sealed class AuditLogTests : MigratedDatabaseTest
{
    [Fact]
    public async Task Update_ExistingEvent_RefusedByDatabase()
    {
        var audit = new AuditLog(Database.ContextFactory(), TimeProvider.System);
        await audit.RecordAsync(new AuditActor("alice", "127.0.0.1"), "test.action", "bob", new { n = 1 }, CancellationToken.None);

        await using var update = Database.DataSource.CreateCommand("UPDATE audit_events SET actor = 'mallory'");
        var error = await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync());
        Assert.Contains("append-only", error.MessageText, StringComparison.Ordinal);

        await using var delete = Database.DataSource.CreateCommand("DELETE FROM audit_events");
        await Assert.ThrowsAsync<PostgresException>(() => delete.ExecuteNonQueryAsync());
    }

    [Fact]
    public async Task PageAsync_SearchWithLikeWildcards_MatchesLiterallyNewestFirst()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero));
        var audit = new AuditLog(Database.ContextFactory(), clock);
        for (var i = 0; i < 30; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(1));
            await audit.RecordAsync(new AuditActor(i % 2 == 0 ? "alice" : "bob_x", null), "test.action", $"t{i}", null, CancellationToken.None);
        }

        var (page, total) = await audit.PageAsync("ALICE", 0, 10, CancellationToken.None);
        Assert.Equal(15, total);
        Assert.Equal(10, page.Count);
        Assert.All(page, e => Assert.Equal("alice", e.Actor));
        Assert.Equal("t28", page[0].Target);

        // "_" and "%" are LIKE wildcards; a search matches them literally ("_" as a wildcard would match all 30).
        var (literal, literalTotal) = await audit.PageAsync("_", 0, 50, CancellationToken.None);
        Assert.Equal(15, literalTotal);
        Assert.All(literal, e => Assert.Equal("bob_x", e.Actor));
        var (none, noneTotal) = await audit.PageAsync("o%x", 0, 50, CancellationToken.None);
        Assert.Equal(0, noneTotal);
        Assert.Empty(none);
    }

    [Fact]
    public async Task PageAsync_ActorActionPrefixTargetAndPeriod_FilterInDatabase()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero));
        var audit = new AuditLog(Database.ContextFactory(), clock);
        await audit.RecordAsync(new AuditActor("alice", null), "server.start-requested", "server:alice", null, CancellationToken.None);
        clock.Advance(TimeSpan.FromDays(1));
        await audit.RecordAsync(new AuditActor("alice", null), "server.stop-requested", "server:alice", null, CancellationToken.None);
        await audit.RecordAsync(new AuditActor("bob", null), "server.start-requested", "server:bob", null, CancellationToken.None);
        await audit.RecordAsync(new AuditActor("alice", null), "terms.accepted", "terms:1", null, CancellationToken.None);

        var (aliceServer, aliceServerTotal) = await audit.PageAsync(new AuditQuery(Actor: "alice", Action: "server."), 0, 10, CancellationToken.None);
        var (secondDay, secondDayTotal) = await audit.PageAsync(new AuditQuery(From: clock.GetUtcNow(), To: clock.GetUtcNow().AddDays(1)), 0, 10, CancellationToken.None);
        var (bobTarget, _) = await audit.PageAsync(new AuditQuery(Target: "BOB"), 0, 10, CancellationToken.None);
        var exported = new List<Portal.Domain.Audit.AuditEvent>();
        await foreach (var e in audit.ExportAsync(new AuditQuery(Actor: "alice"), CancellationToken.None))
        {
            exported.Add(e);
        }

        Assert.Equal(2, aliceServerTotal);
        Assert.Equal(["server.stop-requested", "server.start-requested"], aliceServer.Select(e => e.Action));
        Assert.Equal(3, secondDayTotal);
        Assert.Equal("bob", Assert.Single(bobTarget).Actor);
        Assert.Equal(3, exported.Count);
        Assert.All(exported, e => Assert.Equal("alice", e.Actor));
    }
}
