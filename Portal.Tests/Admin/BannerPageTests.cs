using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Portal.Domain.Accounts;
using Portal.Domain.Announcements;
using Portal.Infrastructure.Announcements;
using Portal.Localization;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>The banner on real pages of the real app, for a signed-in student, in English and Japanese.</summary>
public sealed class BannerPageTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private AnnouncementService Announcements => app.Services.GetRequiredService<AnnouncementService>();

    private async Task<HttpClient> StudentAsync(string? language = null)
    {
        var client = Client();
        var uid = LdapTestUsers.UniqueUsername("ban");
        LdapTestUsers.CreatePerson(uid, "Banner-password-1");
        if (language is not null)
        {
            Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync(new Uri($"{CultureSetup.SetCulturePath}?name={language}&returnUrl=/", UriKind.Relative))).StatusCode);
        }
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, "Banner-password-1");
        return client;
    }

    [Fact]
    public async Task Home_ActiveAnnouncement_ShownToStudentInTheirLanguage()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        await Announcements.CreateAsync(AnnouncementSeverity.Critical, $"Outage tonight {tag}", $"今夜停止します {tag}", now.AddMinutes(-1), now.AddHours(1),
            Username.Parse("admin"), null, CancellationToken.None);
        await Announcements.CreateAsync(AnnouncementSeverity.Info, $"Later {tag}", $"後で {tag}", now.AddHours(1), now.AddHours(2),
            Username.Parse("admin"), null, CancellationToken.None);
        using var english = await StudentAsync();
        using var japanese = await StudentAsync("ja");

        // Blazor writes non-ASCII text as character references; compare the text as a browser shows it.
        var en = WebUtility.HtmlDecode(await english.GetStringAsync(new Uri("/", UriKind.Relative)));
        var ja = WebUtility.HtmlDecode(await japanese.GetStringAsync(new Uri("/", UriKind.Relative)));

        Assert.Contains($"Outage tonight {tag}", en, StringComparison.Ordinal);
        Assert.DoesNotContain($"今夜停止します {tag}", en, StringComparison.Ordinal);
        Assert.Contains("data-severity=\"Critical\"", en, StringComparison.Ordinal);
        Assert.Contains($"今夜停止します {tag}", ja, StringComparison.Ordinal);
        Assert.DoesNotContain($"Outage tonight {tag}", ja, StringComparison.Ordinal);
        Assert.DoesNotContain($"Later {tag}", en, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pages_Maintenance_BannerShownAndStartDisabledForStudent()
    {
        using var student = await StudentAsync();
        await Announcements.SetMaintenanceAsync(true, "Storage work in progress", "ストレージ作業中", Username.Parse("admin"), null, CancellationToken.None);
        try
        {
            var home = await student.GetStringAsync(new Uri("/", UriKind.Relative));
            var server = await student.GetStringAsync(new Uri("/server", UriKind.Relative));

            Assert.Contains("data-testid=\"maintenance-banner\"", home, StringComparison.Ordinal);
            Assert.Contains("Storage work in progress", home, StringComparison.Ordinal);
            Assert.Contains("data-testid=\"server-maintenance\"", server, StringComparison.Ordinal);
            var start = server[server.LastIndexOf("<button", server.IndexOf("data-testid=\"server-start\"", StringComparison.Ordinal), StringComparison.Ordinal)..];
            Assert.Contains("disabled", start[..start.IndexOf('>', StringComparison.Ordinal)], StringComparison.Ordinal);
        }
        finally
        {
            await Announcements.SetMaintenanceAsync(false, null, null, Username.Parse("admin"), null, CancellationToken.None);
        }
        var after = await student.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.DoesNotContain("data-testid=\"maintenance-banner\"", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnnouncementsPage_Student_Refused()
    {
        using var student = await StudentAsync();
        var page = await student.GetAsync(new Uri("/admin/announcements", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith(Portal.Auth.AuthenticationSetup.AccessDeniedPath, HttpSignIn.LocalTarget(page), StringComparison.Ordinal);
    }
}
