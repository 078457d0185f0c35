using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Auth;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Onboarding;

/// <summary>
/// The portal whose LDAP address has nothing listening: to the LDAP client exactly what a stopped slapd looks like
/// (connection refused, code 81). The shared test slapd keeps running for everybody else.
/// </summary>
public sealed class LdapUnreachablePortal() : PortalAppFactory(kestrel: false, overrides: new Dictionary<string, string?>
{
    ["Ldap:Port"] = ClosedLoopbackPort.Find().ToString(System.Globalization.CultureInfo.InvariantCulture),
});

public static class ClosedLoopbackPort
{
    /// <summary>A loopback port that was free a moment ago and that nothing listens on now.</summary>
    public static int Find()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var probe = new TcpClient();
        var refused = Assert.Throws<SocketException>(() => probe.Connect(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        return port;
    }
}

/// <summary>
/// Applying while LDAP is down, over HTTP against the real portal and database: the application is accepted and marked
/// as not checked against the directory, the live check says it cannot check, a refused form keeps what was typed, and
/// the review page and approval say why they cannot go on.
/// </summary>
public sealed partial class DirectoryOutageTests(LdapUnreachablePortal app) : IClassFixture<LdapUnreachablePortal>
{
    private static readonly Uri ApplyUri = new("/apply", UriKind.Relative);

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static Dictionary<string, string> Form(string uid, string email) => new()
    {
        ["Input.FullName"] = "山田 太郎 (Taro Yamada)",
        ["Input.Email"] = email,
        ["Input.AffiliationId"] = "S2026001",
        ["Input.Department"] = "Faculty of Science & Technology",
        ["Input.DesiredUsername"] = uid,
        ["Input.Purpose"] = "Exercises of the deep learning course.\nAnd a thesis <draft>.",
        ["Input.AcceptTerms"] = "true",
    };

    private static async Task<HttpResponseMessage> PostApplyAsync(HttpClient client, Dictionary<string, string> fields)
    {
        var page = await client.GetStringAsync(ApplyUri);
        var form = new Dictionary<string, string>(fields)
        {
            ["_handler"] = "apply",
            ["__RequestVerificationToken"] = HttpSignIn.AntiforgeryToken(page),
            ["Input.TermsVersion"] = TermsVersion().Match(page).Groups["version"].Value,
        };
        return await client.PostAsync(ApplyUri, new FormUrlEncodedContent(form));
    }

    [Fact]
    public async Task UsernameCheck_DirectoryUnreachable_AnswersCannotCheckAsJsonNotAnError()
    {
        using var client = Client();
        var holder = LdapTestUsers.UniqueUsername("acc");
        await AccountRows.AddAsync(app.Database, holder, $"{holder}@keio.jp");

        var free = await client.GetAsync(new Uri($"/apply/username-check?name={LdapTestUsers.UniqueUsername("abc")}", UriKind.Relative));
        var takenInPortal = await client.GetAsync(new Uri($"/apply/username-check?name={holder}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, free.StatusCode);
        Assert.Equal("application/json", free.Content.Headers.ContentType?.MediaType);
        Assert.Equal("unavailable", Status(await free.Content.ReadAsStringAsync()));
        // What the portal's own records know is still said.
        Assert.Equal("taken", Status(await takenInPortal.Content.ReadAsStringAsync()));
    }

    [Theory]
    [InlineData("%00")]
    [InlineData("ab%00cd")]
    [InlineData("admin%00")]
    public async Task UsernameCheck_NulInName_AnswersInvalidNotAnErrorAndNeverAsksTheDirectory(string name)
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri($"/apply/username-check?name={name}", UriKind.Relative));

        // The directory is unreachable here: a name that got as far as LDAP would answer "unavailable".
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid", Status(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Apply_DirectoryUnreachable_AcceptedAndMarkedNotYetCheckedAgainstDirectory()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("out");

        var response = await PostApplyAsync(client, Form(uid, $"{uid}@keio.jp"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("data-testid=\"apply-submitted\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await using var db = app.Database.CreateDbContext();
        var application = await db.Applications.AsNoTracking().SingleAsync(a => a.DesiredUsername == Username.Parse(uid));
        Assert.False(application.CheckedAgainstDirectory);
        Assert.Equal("山田 太郎 (Taro Yamada)", application.FullName);
        var audit = await db.AuditEvents.AsNoTracking()
            .SingleAsync(e => e.Action == "application.submitted" && e.Target == ProvisioningService.ApplicationTarget(application.Id));
        Assert.False(JsonDocument.Parse(audit.Data).RootElement.GetProperty("checkedAgainstDirectory").GetBoolean());
    }

    [Fact]
    public async Task Apply_DirectoryUnreachableAndEmailOfAnAccount_RefusedWithMessageAndFormKeepsEveryField()
    {
        using var client = Client();
        var holder = LdapTestUsers.UniqueUsername("acc");
        await AccountRows.AddAsync(app.Database, holder, $"{holder}@keio.jp");
        var uid = LdapTestUsers.UniqueUsername("out");
        var typed = Form(uid, $"{holder}@keio.jp");

        var response = await PostApplyAsync(client, typed);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("apply-submitted", html, StringComparison.Ordinal);
        Assert.Equal("An account with this email address already exists, and each person may hold one account. Sign in with it, or contact the service desk if you cannot.",
            ElementText(html, "error-Email"));
        Assert.Equal(typed["Input.FullName"], InputValue(html, "full-name"));
        Assert.Equal(typed["Input.Email"], InputValue(html, "email"));
        Assert.Equal(typed["Input.AffiliationId"], InputValue(html, "affiliation-id"));
        Assert.Equal(typed["Input.Department"], InputValue(html, "department"));
        Assert.Equal(typed["Input.DesiredUsername"], InputValue(html, "desired-username"));
        Assert.Equal(typed["Input.Purpose"], ElementText(html, "purpose").Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.Matches("checked", Tag(html, "accept-terms"));
        await using var db = app.Database.CreateDbContext();
        Assert.False(await db.Applications.AnyAsync(a => a.DesiredUsername == Username.Parse(uid)));
    }

    [Fact]
    public async Task ReviewPage_DirectoryUnreachable_SaysUsernameCannotBeCheckedNowAndNotCheckedAtSubmission()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("out");
        await PostApplyAsync(client, Form(uid, $"{uid}@keio.jp"));
        var id = await ApplicationIdAsync(uid);
        using var staff = Client();
        staff.DefaultRequestHeaders.Add("Cookie", $"{AuthenticationSetup.CookieName}={StaffCookie()}");

        var response = await staff.GetAsync(new Uri($"/review/{id}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("data-standing=\"CannotCheck\"", Tag(html, "username-check"), StringComparison.Ordinal);
        Assert.Contains($"Username {uid}: the directory cannot be checked right now. Approval waits until it can; try again later.",
            WebUtility.HtmlDecode(html), StringComparison.Ordinal);
        Assert.Contains("data-testid=\"not-checked-at-submission\"", html, StringComparison.Ordinal);
        Assert.Contains("data-testid=\"email-cannot-check\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approve_DirectoryUnreachable_RefusedAndNothingChanged()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("out");
        await PostApplyAsync(client, Form(uid, $"{uid}@keio.jp"));
        var id = await ApplicationIdAsync(uid);

        var result = await app.Services.GetRequiredService<ReviewService>().ApproveAsync(id, Username.Parse("staff1"), null, CancellationToken.None);

        Assert.IsType<DecisionResult.DirectoryUnavailable>(result);
        await using var db = app.Database.CreateDbContext();
        Assert.Equal(ApplicationState.Submitted, (await db.Applications.AsNoTracking().SingleAsync(a => a.Id == id)).State);
    }

    private async Task<Guid> ApplicationIdAsync(string uid)
    {
        await using var db = app.Database.CreateDbContext();
        return await db.Applications.Where(a => a.DesiredUsername == Username.Parse(uid)).Select(a => a.Id).SingleAsync();
    }

    /// <summary>A staff member's cookie as the portal issues it at sign-in (which itself needs LDAP, down here).</summary>
    private string StaffCookie()
    {
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.Name, "staffout"),
            new Claim(PortalClaims.DisplayName, "Staff Member"),
            new Claim(ClaimTypes.Role, nameof(Role.Staff)),
            new Claim(PortalClaims.AcceptedTermsVersion, "1"),
        ], CookieAuthenticationDefaults.AuthenticationScheme);
        var options = app.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(CookieAuthenticationDefaults.AuthenticationScheme);
        return options.TicketDataFormat.Protect(new AuthenticationTicket(new ClaimsPrincipal(identity), CookieAuthenticationDefaults.AuthenticationScheme));
    }

    private static string? Status(string json) => JsonDocument.Parse(json).RootElement.GetProperty("status").GetString();

    private static string Tag(string html, string testId)
    {
        var match = Regex.Match(html, $"<[a-z]+[^>]*data-testid=\"{testId}\"[^>]*>");
        Assert.True(match.Success, $"no element {testId}");
        return match.Value;
    }

    private static string? InputValue(string html, string testId)
    {
        var value = Regex.Match(Tag(html, testId), "value=\"(?<v>[^\"]*)\"");
        return value.Success ? WebUtility.HtmlDecode(value.Groups["v"].Value) : null;
    }

    private static string ElementText(string html, string testId)
    {
        var match = Regex.Match(html, $"<(?<tag>[a-z]+)[^>]*data-testid=\"{testId}\"[^>]*>(?<text>.*?)</\\k<tag>>", RegexOptions.Singleline);
        Assert.True(match.Success, $"no element {testId}");
        return WebUtility.HtmlDecode(Regex.Replace(match.Groups["text"].Value, "<[^>]+>|<!--.*?-->", "", RegexOptions.Singleline)).Trim();
    }

    [GeneratedRegex("name=\"Input.TermsVersion\" value=\"(?<version>\\d+)\"")]
    private static partial Regex TermsVersion();
}
