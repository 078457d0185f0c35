using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Portal.Admin;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>Hangfire's dashboard in the real app: admins only, refusals and every admin action audited.</summary>
public sealed partial class JobDashboardTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    [Theory]
    [InlineData(null)]
    [InlineData("portal-staff")]
    public async Task Dashboard_StudentOrStaff_RefusedAndAuditedAsDenied(string? group)
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("hfx");
        LdapTestUsers.CreatePerson(uid, "Dashboard-password-1", groups: group is null ? [] : [group]);
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, "Dashboard-password-1");

        var page = await client.GetAsync(new Uri(JobDashboard.Path, UriKind.Relative));
        var trigger = await client.PostAsync(new Uri($"{JobDashboard.Path}/recurring/trigger", UriKind.Relative),
            new FormUrlEncodedContent([new("jobs[]", "idle-cull")]));

        foreach (var response in new[] { page, trigger })
        {
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.StartsWith(AuthenticationSetup.AccessDeniedPath, HttpSignIn.LocalTarget(response), StringComparison.Ordinal);
        }
        await using var db = app.Database.CreateDbContext();
        Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.Actor == uid && e.Action == AuthorizationAudit.DeniedAction && e.Target!.StartsWith(JobDashboard.Path)));
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Actor == uid && e.Action == JobDashboard.ActionAuditAction));
    }

    [Fact]
    public async Task Dashboard_Anonymous_SentToSignIn()
    {
        using var client = Client();

        var page = await client.GetAsync(new Uri(JobDashboard.Path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith(AuthenticationSetup.SignInPath, HttpSignIn.LocalTarget(page), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dashboard_Admin_SeesThePortalsRecurringJobsUnderThePortalsPolicyAndTriggeringOneIsAudited()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var page = await client.GetAsync(new Uri($"{JobDashboard.Path}/recurring", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        foreach (var id in new[] { "server-sweep", "idle-cull", "provisioning-sweep", "mail-dispatch", "user-admin-sweep", "storage-sampling" })
        {
            Assert.Contains(id, html, StringComparison.Ordinal);
        }
        // The portal's own policy: scripts from the portal only, so the dashboard runs without inline script.
        Assert.Contains("script-src 'self';", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.DoesNotMatch(InlineScript(), html);

        // Without the page's antiforgery token the action is refused and nothing is recorded.
        var forged = await client.PostAsync(new Uri($"{JobDashboard.Path}/recurring/trigger", UriKind.Relative),
            new FormUrlEncodedContent([new("jobs[]", "idle-cull")]));
        Assert.NotEqual(HttpStatusCode.NoContent, forged.StatusCode);

        using var trigger = new HttpRequestMessage(HttpMethod.Post, new Uri($"{JobDashboard.Path}/recurring/trigger", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("jobs[]", "idle-cull")]),
        };
        trigger.Headers.Add(Meta(html, "csrf-header"), Meta(html, "csrf-token"));
        var triggered = await client.SendAsync(trigger);
        Assert.Equal(HttpStatusCode.NoContent, triggered.StatusCode);

        await using var db = app.Database.CreateDbContext();
        var recorded = await db.AuditEvents.Where(e => e.Action == JobDashboard.ActionAuditAction).ToListAsync();
        var only = Assert.Single(recorded);
        Assert.Equal((env.AdminUsername, "hangfire:/recurring/trigger"), (only.Actor, only.Target));
        Assert.Contains("idle-cull", only.Data, StringComparison.Ordinal);
    }

    private static string Meta(string html, string name)
    {
        var match = Regex.Match(html, $"<meta name=\"{name}\" content=\"(?<value>[^\"]+)\"");
        Assert.True(match.Success, $"no <meta name=\"{name}\"> on the page");
        return WebUtility.HtmlDecode(match.Groups["value"].Value);
    }

    [GeneratedRegex("<script(?![^>]*\\bsrc=)[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();
}
