using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Infrastructure.Terms;
using Portal.Tests.Support;

namespace Portal.Tests.Onboarding;

public sealed class TermsTests : MigratedDatabaseTest
{
    private static readonly DateTimeOffset Now = new(2026, 4, 1, 0, 0, 0, TimeSpan.Zero);

    private async Task<Username> AccountAsync(string name)
    {
        var user = new DirectoryUser(Username.Parse(name), $"uid={name},ou=people,dc=example,dc=org", $"Display {name}",
            EmailAddress.Parse($"{name}@example.org"), null, Role.Student, false);
        await using var db = Database.CreateDbContext();
        db.Accounts.Add(Account.FromDirectory(user, Now));
        await db.SaveChangesAsync();
        return user.Username;
    }

    [Fact]
    public async Task Seed_FirstVersion_HasTheThreeClausesInBothLanguages()
    {
        var terms = await new TermsService(Database.ContextFactory(), TimeProvider.System).CurrentAsync(CancellationToken.None);

        Assert.Equal(1, terms.Version);
        Assert.Contains("personal learning", terms.TextEn, StringComparison.Ordinal);
        Assert.Contains("mining", terms.TextEn, StringComparison.Ordinal);
        Assert.Contains("suspended immediately", terms.TextEn, StringComparison.Ordinal);
        Assert.Contains("email address", terms.TextEn, StringComparison.Ordinal);
        Assert.Contains("マイニング", terms.TextJa, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AcceptAsync_TwiceSameVersion_OneRecordWithTimeAndAddress()
    {
        var terms = new TermsService(Database.ContextFactory(), new ManualClock(Now));
        var alice = await AccountAsync("alice");

        await terms.AcceptAsync(alice, 1, "192.0.2.7", CancellationToken.None);
        var account = await terms.AcceptAsync(alice, 1, "192.0.2.8", CancellationToken.None);

        Assert.Equal(1, account.AcceptedTermsVersion);
        await using var db = Database.CreateDbContext();
        var record = await db.TermsAcceptances.SingleAsync();
        Assert.Equal(("alice", 1, Now, "192.0.2.7"), (record.Username.Value, record.Version, record.AcceptedAt, record.SourceAddress));
        Assert.Equal(1, await db.AuditEvents.CountAsync(e => e.Action == "terms.accepted"));
    }

    [Fact]
    public async Task PublishAsync_NewVersion_OldAcceptanceNoLongerCurrentAndOldVersionRefused()
    {
        var terms = new TermsService(Database.ContextFactory(), new ManualClock(Now));
        var alice = await AccountAsync("alice");
        await terms.AcceptAsync(alice, 1, null, CancellationToken.None);

        var published = await terms.PublishAsync(Username.Parse("admin"), "# v2", "# 第2版", null, CancellationToken.None);

        Assert.Equal(2, published.Version);
        Assert.Equal(2, (await terms.CurrentAsync(CancellationToken.None)).Version);
        await Assert.ThrowsAsync<DomainException>(() => terms.AcceptAsync(alice, 1, null, CancellationToken.None));
        Assert.Equal(2, (await terms.AcceptAsync(alice, 2, null, CancellationToken.None)).AcceptedTermsVersion);
        await Assert.ThrowsAsync<InvalidValueException>(() => terms.PublishAsync(Username.Parse("admin"), "only English", " ", null, CancellationToken.None));
    }

    [Fact]
    public async Task PublishAsync_NulInText_RefusedAsControlCharactersAndNoVersionStored()
    {
        var terms = new TermsService(Database.ContextFactory(), new ManualClock(Now));

        var refused = await Assert.ThrowsAsync<InvalidValueException>(() =>
            terms.PublishAsync(Username.Parse("admin"), "# v2\n\nNo mining.", "# 第2版\u0000", null, CancellationToken.None));

        Assert.Equal("TextJa", refused.Field);
        Assert.Equal(ControlCharacters.Message("Japanese text"), refused.Message);
        Assert.True(refused.HasControlCharacters);
        Assert.Equal(1, (await terms.CurrentAsync(CancellationToken.None)).Version);
        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.TermsVersions.CountAsync());
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "terms.published"));
    }

    [Fact]
    public async Task AcceptancesAsync_FilterAndSearch_InDatabase()
    {
        var terms = new TermsService(Database.ContextFactory(), new ManualClock(Now));
        foreach (var name in new[] { "alice", "bob", "carol" })
        {
            await terms.AcceptAsync(await AccountAsync(name), 1, null, CancellationToken.None);
        }
        await terms.PublishAsync(Username.Parse("admin"), "v2", "v2", null, CancellationToken.None);
        await terms.AcceptAsync(Username.Parse("bob"), 2, null, CancellationToken.None);

        var (v2, v2Total) = await terms.AcceptancesAsync(2, null, 0, 10, CancellationToken.None);
        var (byName, byNameTotal) = await terms.AcceptancesAsync(null, "display car", 0, 10, CancellationToken.None);
        var (byUsername, _) = await terms.AcceptancesAsync(null, "BOB", 0, 10, CancellationToken.None);

        Assert.Equal(1, v2Total);
        Assert.Equal("bob", Assert.Single(v2).Username);
        Assert.Equal(1, byNameTotal);
        Assert.Equal("carol", Assert.Single(byName).Username);
        Assert.Equal([2, 1], byUsername.Select(r => r.Version));
    }

    [Fact]
    public async Task AcceptancesAsync_SearchWithNul_SearchesWithoutTheControlCharacter()
    {
        var terms = new TermsService(Database.ContextFactory(), new ManualClock(Now));
        await terms.AcceptAsync(await AccountAsync("nulsearch"), 1, null, CancellationToken.None);

        var (rows, total) = await terms.AcceptancesAsync(null, "nul\0search", 0, 10, CancellationToken.None);

        Assert.Equal(1, total);
        Assert.Equal("nulsearch", Assert.Single(rows).Username);
    }

    [Theory]
    [InlineData("<script>alert(1)</script>", "&lt;script&gt;")]
    [InlineData("[click](javascript:alert(1))", "href=\"#\"")]
    [InlineData("<img src=x onerror=alert(1)>", "&lt;img")]
    public void ToHtml_UnsafeMarkdown_RenderedHarmless(string markdown, string expected)
    {
        var html = TermsMarkdown.ToHtml(markdown);

        Assert.Contains(expected, html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain("javascript:", html, StringComparison.Ordinal);
    }
}
