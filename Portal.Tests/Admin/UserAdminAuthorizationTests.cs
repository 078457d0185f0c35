using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>Only admins reach the users pages; every refusal of a signed-in person is audited as <c>auth.denied</c>.</summary>
public sealed class UserAdminAuthorizationTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Password = "Users-page-pass-1";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private async Task<(HttpClient Client, string Uid)> SignedInAsync(params string[] groups)
    {
        var uid = LdapTestUsers.UniqueUsername("az");
        LdapTestUsers.CreatePerson(uid, Password, false, groups);
        var client = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, Password);
        return (client, uid);
    }

    private async Task<List<(string Actor, string? Target, string Data, string? Source)>> DeniedAsync(string actor)
    {
        await using var db = app.Database.CreateDbContext();
        return [.. (await db.AuditEvents.AsNoTracking().Where(e => e.Action == AuthorizationAudit.DeniedAction && e.Actor == actor)
            .OrderBy(e => e.Id).ToListAsync()).Select(e => (e.Actor, e.Target, e.Data, e.SourceAddress))];
    }

    private static void AssertRefused(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Contains(AuthenticationSetup.AccessDeniedPath, response.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsersPages_Student_RefusedAndAuditedAsDenied()
    {
        var (client, uid) = await SignedInAsync();
        using (client)
        {
            AssertRefused(await client.GetAsync(new Uri("/admin/users", UriKind.Relative)));
            AssertRefused(await client.GetAsync(new Uri($"/admin/users/{TestEnvironment.Current.AdminUsername}", UriKind.Relative)));
            // A form post straight at the page (there is no other endpoint) is refused before antiforgery or the page run.
            AssertRefused(await client.PostAsync(new Uri($"/admin/users/{uid}", UriKind.Relative),
                new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "suspend", ["reason"] = "x" })));
        }

        var denied = await DeniedAsync(uid);
        Assert.Equal(3, denied.Count);
        Assert.Equal("/admin/users", denied[0].Target);
        Assert.Equal("GET", System.Text.Json.JsonDocument.Parse(denied[0].Data).RootElement.GetProperty("method").GetString());
        Assert.Equal($"/admin/users/{TestEnvironment.Current.AdminUsername}", denied[1].Target);
        Assert.Equal("POST", System.Text.Json.JsonDocument.Parse(denied[2].Data).RootElement.GetProperty("method").GetString());
        // (The source address is the connection's; TestServer has none. The browser test sees it over Kestrel.)
    }

    [Fact]
    public async Task UsersPages_Staff_RefusedButReviewAllowed()
    {
        var (client, uid) = await SignedInAsync("portal-staff");
        using (client)
        {
            AssertRefused(await client.GetAsync(new Uri("/admin/users", UriKind.Relative)));
            AssertRefused(await client.GetAsync(new Uri($"/admin/users/{uid}", UriKind.Relative)));
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/review", UriKind.Relative))).StatusCode);
        }
        Assert.Equal(2, (await DeniedAsync(uid)).Count);
    }

    [Fact]
    public async Task UsersPages_Admin_SeesListAndNotFoundForUnknownOrInvalidName()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var list = await client.GetAsync(new Uri("/admin/users", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains("data-testid=\"users-grid\"", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var self = await client.GetStringAsync(new Uri($"/admin/users/{env.AdminUsername}", UriKind.Relative));
        Assert.Contains("data-testid=\"user-status\"", self, StringComparison.Ordinal);
        foreach (var name in new[] { "nobody-known", "NOT%20valid!" })
        {
            var missing = await client.GetStringAsync(new Uri($"/admin/users/{name}", UriKind.Relative));
            Assert.Contains("data-testid=\"user-not-found\"", missing, StringComparison.Ordinal);
        }
        Assert.Empty(await DeniedAsync(env.AdminUsername));
    }

    [Fact]
    public async Task SignedInSession_AccountSuspended_EndsAtNextRequest()
    {
        var (client, uid) = await SignedInAsync();
        using (client)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
            await using (var command = app.Database.DataSource.CreateCommand(
                $"UPDATE accounts SET status = 'Suspended', suspension_reason = 'Testing sessions' WHERE username = '{uid}'"))
            {
                await command.ExecuteNonQueryAsync();
            }

            var next = await client.GetAsync(new Uri("/", UriKind.Relative));

            Assert.Equal(HttpStatusCode.Redirect, next.StatusCode);
            Assert.Contains(AuthenticationSetup.SignInPath, next.Headers.Location!.ToString(), StringComparison.Ordinal);
            var signIn = await HttpSignIn.PostAsync(client, uid, Password);
            var page = await signIn.Content.ReadAsStringAsync();
            Assert.Contains("Your account is suspended: Testing sessions. Contact the service desk.", page, StringComparison.Ordinal);
        }
    }
}
