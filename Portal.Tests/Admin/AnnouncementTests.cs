using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Announcements;
using Portal.Domain.Common;
using Portal.Infrastructure.Announcements;
using Portal.Infrastructure.Servers;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>Announcements and maintenance mode: the window, the language, validation, audit, and refused starts.</summary>
public sealed class AnnouncementTests : MigratedDatabaseTest
{
    private static readonly DateTimeOffset Noon = DateTimeOffset.Parse("2026-06-01T12:00:00Z", CultureInfo.InvariantCulture);
    private static readonly Username Admin = Username.Parse("admin");

    private readonly ManualClock _clock = new(Noon);
    private AnnouncementService _service = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _service = new AnnouncementService(Database.ContextFactory(), _clock);
    }

    [Fact]
    public async Task BannerAsync_Window_ShownOnlyFromStartUntilEnd()
    {
        var created = await _service.CreateAsync(AnnouncementSeverity.Warning, "GPU nodes reboot at 18:00", "18:00 に GPU ノードを再起動します",
            Noon.AddHours(1), Noon.AddHours(3), Admin, "192.0.2.5", CancellationToken.None);

        Assert.Empty((await _service.BannerAsync(CancellationToken.None)).Active);           // before the start
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(created.Id, Assert.Single((await _service.BannerAsync(CancellationToken.None)).Active).Id);  // at the start
        _clock.Advance(TimeSpan.FromHours(2) - TimeSpan.FromSeconds(1));
        Assert.Single((await _service.BannerAsync(CancellationToken.None)).Active);          // a second before the end
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty((await _service.BannerAsync(CancellationToken.None)).Active);           // at the end
    }

    [Fact]
    public async Task BannerAsync_CachedButChangedThroughService_SeenAtOnce()
    {
        Assert.Empty((await _service.BannerAsync(CancellationToken.None)).Active);
        var a = await _service.CreateAsync(AnnouncementSeverity.Info, "Hello", "こんにちは", Noon.AddMinutes(-1), Noon.AddDays(1), Admin, null, CancellationToken.None);
        Assert.Single((await _service.BannerAsync(CancellationToken.None)).Active);

        Assert.Equal(AnnouncementChangeResult.Done, await _service.EndEarlyAsync(a.Id, a.Version, Admin, null, CancellationToken.None));

        Assert.Empty((await _service.BannerAsync(CancellationToken.None)).Active);
        Assert.Equal(AnnouncementChangeResult.NotAllowed, await _service.EndEarlyAsync(a.Id, a.Version + 1, Admin, null, CancellationToken.None));
    }

    [Theory]
    [InlineData("ja", "メンテナンスのお知らせ")]
    [InlineData("en", "Maintenance notice")]
    public void TextFor_Culture_JapaneseOnlyForJapanese(string language, string expected)
    {
        var a = Announcement.Create(AnnouncementSeverity.Critical, "Maintenance notice", "メンテナンスのお知らせ", Noon, Noon.AddHours(1), Admin, Noon);
        Assert.Equal(expected, a.TextFor(language));
    }

    [Theory]
    [InlineData("text", "テキスト", 0, "EndsAt")]     // ends at the start
    [InlineData("text", "テキスト", -60, "EndsAt")]   // ends before the start
    [InlineData("", "テキスト", 60, "TextEn")]
    [InlineData("text", "   ", 60, "TextJa")]
    public async Task CreateAndEdit_Invalid_RefusedAndNothingChanged(string en, string ja, int minutes, string field)
    {
        var e = await Assert.ThrowsAsync<InvalidValueException>(() =>
            _service.CreateAsync(AnnouncementSeverity.Info, en, ja, Noon, Noon.AddMinutes(minutes), Admin, null, CancellationToken.None));
        Assert.Equal(field, e.Field);
        var kept = await _service.CreateAsync(AnnouncementSeverity.Info, "Kept", "保持", Noon, Noon.AddHours(1), Admin, null, CancellationToken.None);

        await Assert.ThrowsAsync<InvalidValueException>(() =>
            _service.EditAsync(kept.Id, kept.Version, AnnouncementSeverity.Critical, en, ja, Noon, Noon.AddMinutes(minutes), Admin, null, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        var stored = await db.Announcements.SingleAsync();
        Assert.Equal(("Kept", "保持", AnnouncementSeverity.Info, 0), (stored.TextEn, stored.TextJa, stored.Severity, stored.Version));
        Assert.Equal(1, await db.AuditEvents.CountAsync(x => x.Action.StartsWith("admin.announcement.")));
    }

    [Fact]
    public async Task CreateEditAndMaintenance_NulInText_RefusedAsControlCharactersAndNothingStored()
    {
        var created = await Assert.ThrowsAsync<InvalidValueException>(() =>
            _service.CreateAsync(AnnouncementSeverity.Info, "Reboot", "再起動\u0000", Noon, Noon.AddHours(1), Admin, null, CancellationToken.None));
        var kept = await _service.CreateAsync(AnnouncementSeverity.Info, "Kept", "保持", Noon, Noon.AddHours(1), Admin, null, CancellationToken.None);
        var edited = await Assert.ThrowsAsync<InvalidValueException>(() =>
            _service.EditAsync(kept.Id, kept.Version, AnnouncementSeverity.Info, "Line one\r\nline\u0000two", "保持", Noon, Noon.AddHours(1), Admin, null, CancellationToken.None));
        var maintenance = await Assert.ThrowsAsync<InvalidValueException>(() =>
            _service.SetMaintenanceAsync(true, "Storage\u0000", "作業中", Admin, null, CancellationToken.None));

        Assert.Equal((nameof(Announcement.TextJa), ControlCharacters.Message("Japanese text")), (created.Field, created.Message));
        Assert.Equal((nameof(Announcement.TextEn), ControlCharacters.Message("English text")), (edited.Field, edited.Message));
        Assert.Equal((nameof(MaintenanceMode.MessageEn), ControlCharacters.Message("English text")), (maintenance.Field, maintenance.Message));
        Assert.All([created, edited, maintenance], e => Assert.True(e.HasControlCharacters));
        await using var db = Database.CreateDbContext();
        var stored = await db.Announcements.SingleAsync();
        Assert.Equal(("Kept", "保持", 0), (stored.TextEn, stored.TextJa, stored.Version));
        Assert.Equal(1, await db.AuditEvents.CountAsync(x => x.Action.StartsWith("admin.announcement.")));
        Assert.False((await _service.MaintenanceAsync(CancellationToken.None)).Enabled);
    }

    [Fact]
    public async Task CreateEditEndDelete_Audited()
    {
        var a = await _service.CreateAsync(AnnouncementSeverity.Info, "One", "一", Noon.AddHours(-1), Noon.AddHours(1), Admin, "192.0.2.7", CancellationToken.None);
        Assert.Equal(AnnouncementChangeResult.Done, await _service.EditAsync(a.Id, a.Version, AnnouncementSeverity.Warning, "Two", "二",
            Noon.AddHours(-1), Noon.AddHours(2), Username.Parse("admin2"), "192.0.2.7", CancellationToken.None));
        Assert.Equal(AnnouncementChangeResult.Conflict, await _service.EditAsync(a.Id, a.Version, AnnouncementSeverity.Info, "Stale", "古い",
            Noon, Noon.AddHours(2), Admin, null, CancellationToken.None));
        Assert.Equal(AnnouncementChangeResult.Done, await _service.EndEarlyAsync(a.Id, a.Version + 1, Admin, "192.0.2.7", CancellationToken.None));
        Assert.Equal(AnnouncementChangeResult.Done, await _service.DeleteAsync(a.Id, Admin, "192.0.2.7", CancellationToken.None));
        Assert.Equal(AnnouncementChangeResult.NotFound, await _service.DeleteAsync(a.Id, Admin, null, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        var events = await db.AuditEvents.Where(e => e.Target == $"announcement:{a.Id}").OrderBy(e => e.Id).ToListAsync();
        Assert.Equal(["admin.announcement.create", "admin.announcement.edit", "admin.announcement.end", "admin.announcement.delete"], events.Select(e => e.Action));
        Assert.Equal(["admin", "admin2", "admin", "admin"], events.Select(e => e.Actor));
        Assert.All(events, e => Assert.Equal("192.0.2.7", e.SourceAddress));
        Assert.Equal("Two", System.Text.Json.JsonDocument.Parse(events[1].Data).RootElement.GetProperty("textEn").GetString());
        Assert.Empty(await db.Announcements.ToListAsync());
    }

    [Fact]
    public async Task StartAsync_Maintenance_StudentRefusedAdminAllowed_AndAudited()
    {
        using var servers = new ServerServices(Database, clock: _clock);
        var student = Username.Parse(LdapTestUsers.UniqueUsername("mst"));
        var admin = Username.Parse(LdapTestUsers.UniqueUsername("mad"));
        await using (var db = Database.CreateDbContext())
        {
            db.Accounts.Add(Account.FromDirectory(new DirectoryUser(admin, $"uid={admin}", "An Admin", null, null, Role.Admin, false), Noon));
            await db.SaveChangesAsync();
        }
        Assert.Equal(AnnouncementChangeResult.NotAllowed, await _service.SetMaintenanceAsync(false, null, null, Admin, null, CancellationToken.None));
        await Assert.ThrowsAsync<InvalidValueException>(() => _service.SetMaintenanceAsync(true, "", "作業中", Admin, null, CancellationToken.None));
        Assert.False((await _service.BannerAsync(CancellationToken.None)).Maintenance.Enabled);

        Assert.Equal(AnnouncementChangeResult.Done,
            await _service.SetMaintenanceAsync(true, "Storage upgrade until 17:00", "17:00 までストレージ更新", Admin, "192.0.2.8", CancellationToken.None));

        var banner = await _service.BannerAsync(CancellationToken.None);
        Assert.True(banner.Maintenance.Enabled);
        Assert.Equal("17:00 までストレージ更新", banner.Maintenance.MessageFor("ja"));
        Assert.Equal(ServerRequestResult.Maintenance, await servers.Servers.StartAsync(student, null, "192.0.2.30", CancellationToken.None));
        Assert.Equal(ServerRequestResult.Maintenance, await servers.Servers.StartAsync(student, null, null, Role.Staff, CancellationToken.None));
        Assert.Equal(ServerRequestResult.Requested, await servers.Servers.StartAsync(admin, null, null, CancellationToken.None));
        await using (var db = Database.CreateDbContext())
        {
            Assert.False(await db.Servers.AnyAsync(s => s.Username == student));
            Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.Action == "server.start-refused" && e.Actor == student.Value));
            var on = await db.AuditEvents.SingleAsync(e => e.Action == "admin.maintenance.on");
            Assert.Equal(("admin", "192.0.2.8"), (on.Actor, on.SourceAddress));
        }

        Assert.Equal(AnnouncementChangeResult.Done, await _service.SetMaintenanceAsync(false, null, null, Admin, null, CancellationToken.None));

        Assert.False((await _service.BannerAsync(CancellationToken.None)).Maintenance.Enabled);
        Assert.Equal(ServerRequestResult.Requested, await servers.Servers.StartAsync(student, null, null, CancellationToken.None));
        await using (var db = Database.CreateDbContext())
        {
            Assert.Equal(1, await db.AuditEvents.CountAsync(e => e.Action == "admin.maintenance.off"));
        }
    }
}
