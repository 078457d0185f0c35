using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Auth;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Audit;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>A suspended person's open session: their next request lands on sign-in, which says they are suspended and why.</summary>
public sealed partial class SuspendedSessionTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Password = "Suspended-session-1";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static AuditActor Admin => new(TestEnvironment.Current.AdminUsername, "192.0.2.7");

    private async Task<(string Uid, HttpClient Session)> SignedInStudentAsync()
    {
        var uid = LdapTestUsers.UniqueUsername("sess");
        LdapTestUsers.CreatePerson(uid, Password);
        var client = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, Password);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
        return (uid, client);
    }

    private static async Task<string?> SignInErrorAsync(HttpResponseMessage page)
    {
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var match = ErrorBlock().Match(await page.Content.ReadAsStringAsync());
        return match.Success ? WebUtility.HtmlDecode(match.Groups["text"].Value) : null;
    }

    [Fact]
    public async Task OpenSession_Suspended_NextRequestShowsSignInWithTheReason()
    {
        const string reason = "Mining on the shared GPUs";
        var (uid, session) = await SignedInStudentAsync();
        using var _ = session;
        var users = app.Services.GetRequiredService<UserAdminService>();
        Assert.Equal(UserActionOutcome.Requested, (await users.SuspendAsync(Username.Parse(uid), reason, Admin, CancellationToken.None)).Outcome);

        var next = await session.GetAsync(new Uri("/server", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, next.StatusCode);
        var target = HttpSignIn.LocalTarget(next);
        Assert.StartsWith(AuthenticationSetup.SignInPath + "?", target, StringComparison.Ordinal);
        Assert.Contains($"{SuspendedSessions.NoticeParameter}=", target, StringComparison.Ordinal);
        Assert.DoesNotContain(uid, target, StringComparison.Ordinal);
        Assert.Equal($"Your account is suspended: {reason}. Contact the service desk.",
            await SignInErrorAsync(await session.GetAsync(new Uri(target, UriKind.Relative))));
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Action == "auth.session-ended" && e.Target == uid));
    }

    [Fact]
    public async Task SignInNotice_ForgedOrForAReinstatedPerson_ShowsNothing()
    {
        var (uid, session) = await SignedInStudentAsync();
        using var _ = session;
        var users = app.Services.GetRequiredService<UserAdminService>();
        await users.SuspendAsync(Username.Parse(uid), "Temporary", Admin, CancellationToken.None);
        var target = HttpSignIn.LocalTarget(await session.GetAsync(new Uri("/", UriKind.Relative)));
        await users.ReinstateAsync(Username.Parse(uid), Admin, CancellationToken.None);
        using var stranger = Client();

        var reinstated = await stranger.GetAsync(new Uri(target, UriKind.Relative));
        var byName = await stranger.GetAsync(new Uri($"{AuthenticationSetup.SignInPath}?{SuspendedSessions.NoticeParameter}={uid}", UriKind.Relative));
        var garbage = await stranger.GetAsync(new Uri($"{AuthenticationSetup.SignInPath}?{SuspendedSessions.NoticeParameter}=CfDJ8%00x", UriKind.Relative));

        Assert.Null(await SignInErrorAsync(reinstated));
        Assert.Null(await SignInErrorAsync(byName));
        Assert.Null(await SignInErrorAsync(garbage));
    }

    [GeneratedRegex("data-testid=\"sign-in-error\">(?<text>[^<]*)<")]
    private static partial Regex ErrorBlock();
}
