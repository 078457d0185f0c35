using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Api;
using Portal.Domain.Accounts;
using Portal.Domain.Api;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Api;

public sealed class ApiTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Password = "Api-test-password-1";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    /// <summary>A directory person who has signed in once (so the portal has their account), in the given groups.</summary>
    private async Task<string> PersonAsync(string prefix, params string[] groups)
    {
        var uid = LdapTestUsers.UniqueUsername(prefix);
        LdapTestUsers.CreatePerson(uid, Password, false, groups);
        using var client = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, Password);
        return uid;
    }

    private async Task<IssuedToken> TokenAsync(string owner, ApiScopes scopes, DateTimeOffset? expires = null)
    {
        var env = TestEnvironment.Current;
        var result = await app.Services.GetRequiredService<AccessTokenService>().IssueAsync(owner, "test token", scopes,
            expires ?? DateTimeOffset.UtcNow.AddDays(30), new AuditActor(env.AdminUsername, "192.0.2.1"), CancellationToken.None);
        return Assert.IsType<IssueResult.Issued>(result).Token;
    }

    private HttpClient ApiClient(string? secret)
    {
        var client = Client();
        if (secret is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        }
        return client;
    }

    private async Task<int> DeniedEventsAsync(string actor, string path)
    {
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        return await db.AuditEvents.CountAsync(e => e.Actor == actor && e.Action == "auth.denied" && e.Target == path);
    }

    [Fact]
    public async Task Applications_StaffTokenWithScope_ListsAndApproves()
    {
        var staff = await PersonAsync("apistaff", "portal-staff");
        var token = await TokenAsync(staff, ApiScopes.ApplicationsRead | ApiScopes.ApplicationsWrite);
        var (id, _, _) = await new OnboardingServices(app.Database).SubmitAsync();
        using var client = ApiClient(token.Secret);

        var page = await client.GetFromJsonAsync<ApiPage<ApplicationDto>>("/api/v1/applications?state=submitted&limit=5");
        Assert.NotNull(page);
        Assert.Contains(page.Items, a => a.Id == id);
        Assert.True(page.Total >= 1);
        Assert.Equal(5, page.Limit);

        var approved = await client.PostAsync(new Uri($"/api/v1/applications/{id}/approve", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal("Approved", (await approved.Content.ReadFromJsonAsync<ApplicationDto>())!.State);

        var again = await client.PostAsync(new Uri($"/api/v1/applications/{id}/approve", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("application/problem+json", again.Content.Headers.ContentType?.MediaType);

        var missing = await client.GetAsync(new Uri($"/api/v1/applications/{Guid.NewGuid()}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Applications_RejectWithoutReason_ValidationProblemAndUnchanged()
    {
        var staff = await PersonAsync("apistaff", "portal-staff");
        var token = await TokenAsync(staff, ApiScopes.ApplicationsWrite | ApiScopes.ApplicationsRead);
        var (id, _, _) = await new OnboardingServices(app.Database).SubmitAsync();
        using var client = ApiClient(token.Secret);

        var response = await client.PostAsJsonAsync($"/api/v1/applications/{id}/reject", new RejectRequest("  "));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("reason", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("Submitted", (await client.GetFromJsonAsync<ApplicationDto>($"/api/v1/applications/{id}"))!.State);
    }

    [Fact]
    public async Task Request_NoMissingOrBadToken_Unauthorized()
    {
        using var none = ApiClient(null);
        var anonymous = await none.GetAsync(new Uri("/api/v1/applications", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);

        using var bad = ApiClient(AccessTokenService.TokenPrefix + "not-a-real-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await bad.GetAsync(new Uri("/api/v1/applications", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Request_SignedInCookieWithoutToken_Unauthorized()
    {
        var env = TestEnvironment.Current;
        using var client = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var response = await client.GetAsync(new Uri("/api/v1/applications", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Token_RevokedExpiredOrOwnerSuspended_Unauthorized()
    {
        var staff = await PersonAsync("apistaff", "portal-staff");
        var tokens = app.Services.GetRequiredService<AccessTokenService>();
        var admin = new AuditActor(TestEnvironment.Current.AdminUsername, null);
        var revoked = await TokenAsync(staff, ApiScopes.ApplicationsRead);
        var expiring = await TokenAsync(staff, ApiScopes.ApplicationsRead);
        var suspended = await TokenAsync(staff, ApiScopes.ApplicationsRead);
        using (var before = ApiClient(revoked.Secret))
        {
            Assert.Equal(HttpStatusCode.OK, (await before.GetAsync(new Uri("/api/v1/applications", UriKind.Relative))).StatusCode);
        }

        Assert.True(await tokens.RevokeAsync(revoked.Token.Id, admin, CancellationToken.None));
        Assert.False(await tokens.RevokeAsync(revoked.Token.Id, admin, CancellationToken.None));
        await using (var db = await app.Database.ContextFactory().CreateDbContextAsync())
        {
            await db.AccessTokens.Where(t => t.Id == expiring.Token.Id)
                .ExecuteUpdateAsync(u => u.SetProperty(t => t.ExpiresAt, DateTimeOffset.UtcNow.AddSeconds(-1)));
        }

        foreach (var secret in new[] { revoked.Secret, expiring.Secret })
        {
            using var client = ApiClient(secret);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(new Uri("/api/v1/applications", UriKind.Relative))).StatusCode);
        }

        await using (var db = await app.Database.ContextFactory().CreateDbContextAsync())
        {
            var account = await db.Accounts.SingleAsync(a => a.Username == Username.Parse(staff));
            account.Suspend("API test", "admin", DateTimeOffset.UtcNow);
            await db.SaveChangesAsync();
        }
        using var ofSuspended = ApiClient(suspended.Secret);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ofSuspended.GetAsync(new Uri("/api/v1/applications", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Token_StudentOwnerWithStaffScope_ForbiddenAndAudited()
    {
        var student = await PersonAsync("apistu");
        var token = await TokenAsync(student, ApiScopes.ApplicationsRead | ApiScopes.ApplicationsWrite | ApiScopes.UsersRead);
        using var client = ApiClient(token.Secret);
        var (id, _, _) = await new OnboardingServices(app.Database).SubmitAsync();

        var list = await client.GetAsync(new Uri("/api/v1/applications", UriKind.Relative));
        var approve = await client.PostAsync(new Uri($"/api/v1/applications/{id}/approve", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, approve.StatusCode);
        Assert.Equal(1, await DeniedEventsAsync(student, "/api/v1/applications"));
        Assert.Equal(1, await DeniedEventsAsync(student, $"/api/v1/applications/{id}/approve"));
        var (application, _) = await app.Services.GetRequiredService<ReviewService>().DetailAsync(id, CancellationToken.None);
        Assert.Equal(ApplicationState.Submitted, application!.State);
    }

    [Fact]
    public async Task Token_WithoutTheScope_ForbiddenEvenForAdmin()
    {
        var env = TestEnvironment.Current;
        using (var signIn = Client())
        {
            await HttpSignIn.SignInAcceptingTermsAsync(signIn, env.AdminUsername, env.AdminPassword);
        }
        var token = await TokenAsync(env.AdminUsername, ApiScopes.ServersRead);
        using var client = ApiClient(token.Secret);

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri("/api/v1/applications", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/v1/servers", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Servers_StudentAsksForAnotherUsersServer_ForbiddenAndAudited()
    {
        var student = await PersonAsync("apistu");
        var other = await PersonAsync("apioth");
        var token = await TokenAsync(student, ApiScopes.ServersRead | ApiScopes.ServersWrite);
        using var client = ApiClient(token.Secret);

        var look = await client.GetAsync(new Uri($"/api/v1/servers/{other}", UriKind.Relative));
        var stop = await client.PostAsync(new Uri($"/api/v1/servers/{other}/stop", UriKind.Relative), null);
        var start = await client.PostAsync(new Uri($"/api/v1/servers/{other}/start", UriKind.Relative), null);
        var all = await client.GetAsync(new Uri("/api/v1/servers", UriKind.Relative));
        var own = await client.GetAsync(new Uri($"/api/v1/servers/{student}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Forbidden, look.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, stop.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, start.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, all.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, own.StatusCode);
        Assert.Equal(1, await DeniedEventsAsync(student, $"/api/v1/servers/{other}"));
        Assert.Equal(1, await DeniedEventsAsync(student, $"/api/v1/servers/{other}/stop"));
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.False(await db.Servers.AnyAsync(s => s.Username == Username.Parse(other)));
    }

    [Fact]
    public async Task Issue_StoresOnlyTheHashAndAudits()
    {
        var staff = await PersonAsync("apistaff", "portal-staff");
        var token = await TokenAsync(staff, ApiScopes.ApplicationsRead);

        Assert.StartsWith(AccessTokenService.TokenPrefix, token.Secret, StringComparison.Ordinal);
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        var stored = await db.AccessTokens.AsNoTracking().SingleAsync(t => t.Id == token.Token.Id);
        Assert.Equal(SecretTokens.Hash(token.Secret), stored.SecretHash);
        Assert.DoesNotContain(token.Secret[12..], stored.SecretHash + stored.Prefix + stored.Name, StringComparison.Ordinal);
        var created = await db.AuditEvents.AsNoTracking().SingleAsync(e => e.Action == "admin.token.create" && e.Target == staff);
        Assert.DoesNotContain(token.Secret, created.Data, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", ApiScopes.ApplicationsRead, 30, "Name")]
    [InlineData("ok", ApiScopes.None, 30, "Scopes")]
    [InlineData("ok", ApiScopes.ApplicationsRead, -1, "ExpiresAt")]
    [InlineData("ok", ApiScopes.ApplicationsRead, 400, "ExpiresAt")]
    public async Task Issue_InvalidRequest_RefusedWithFieldAndNothingStored(string name, ApiScopes scopes, int days, string field)
    {
        var staff = await PersonAsync("apistaff", "portal-staff");
        var tokens = app.Services.GetRequiredService<AccessTokenService>();

        var result = await tokens.IssueAsync(staff, name, scopes, DateTimeOffset.UtcNow.AddDays(days),
            new AuditActor(TestEnvironment.Current.AdminUsername, null), CancellationToken.None);

        Assert.Equal(field, Assert.IsType<IssueResult.Invalid>(result).Field);
        Assert.Equal(0, (await tokens.PageAsync(staff, includeInactive: true, 0, 10, CancellationToken.None)).Total);
    }

    [Fact]
    public async Task Issue_UnknownOwner_Refused()
    {
        var result = await app.Services.GetRequiredService<AccessTokenService>().IssueAsync("nobody-here", "x", ApiScopes.UsageRead,
            DateTimeOffset.UtcNow.AddDays(1), new AuditActor(TestEnvironment.Current.AdminUsername, null), CancellationToken.None);

        Assert.IsType<IssueResult.UnknownOwner>(result);
    }

    [Fact]
    public async Task OpenApi_Document_DescribesTheApiAndItsBearerScheme()
    {
        using var client = Client();

        using var document = JsonDocument.Parse(await client.GetStringAsync(new Uri(ApiEndpoints.OpenApiPath, UriKind.Relative)));

        var paths = document.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/v1/applications", out _));
        Assert.True(paths.TryGetProperty("/api/v1/servers/{username}/stop", out _));
        Assert.True(paths.TryGetProperty("/api/v1/users", out _));
        Assert.True(paths.TryGetProperty("/api/v1/usage/backends", out _));
        Assert.All(paths.EnumerateObject(), p => Assert.StartsWith("/api/v1/", p.Name, StringComparison.Ordinal));
        Assert.Equal("bearer", document.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());
    }

    private async Task<string> AdminWithAccountAsync()
    {
        var env = TestEnvironment.Current;
        using var signIn = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(signIn, env.AdminUsername, env.AdminPassword);
        return env.AdminUsername;
    }

    [Fact]
    public async Task Users_AdminToken_SearchesDetailsAndSuspends()
    {
        var admin = await AdminWithAccountAsync();
        var student = await PersonAsync("apiusr");
        var token = await TokenAsync(admin, ApiScopes.UsersRead | ApiScopes.UsersWrite);
        using var client = ApiClient(token.Secret);

        var page = await client.GetFromJsonAsync<ApiPage<UserDto>>($"/api/v1/users?search={student.ToUpperInvariant()}&role=student");
        var detail = await client.GetFromJsonAsync<UserDetailDto>($"/api/v1/users/{student}");
        var noReason = await client.PostAsJsonAsync($"/api/v1/users/{student}/suspend", new SuspendRequest(""));
        var suspended = await client.PostAsJsonAsync($"/api/v1/users/{student}/suspend", new SuspendRequest("API test: unpaid fees"));
        var badRole = await client.GetAsync(new Uri("/api/v1/users?role=wizard", UriKind.Relative));

        Assert.Equal(student, Assert.Single(page!.Items).Username);
        Assert.Equal("Student", detail!.Role);
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, suspended.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badRole.StatusCode);
        var after = await client.GetFromJsonAsync<UserDetailDto>($"/api/v1/users/{student}");
        Assert.Equal("Suspended", after!.Status);
        Assert.Equal("API test: unpaid fees", after.SuspensionReason);
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Actor == admin && e.Target == student && e.Action.StartsWith("admin.user.")));
    }

    [Fact]
    public async Task Users_StaffOrStudentTokenWithUserScopes_ForbiddenAndAudited()
    {
        var staff = await PersonAsync("apistaff", "portal-staff");
        var student = await PersonAsync("apiusr");
        foreach (var owner in new[] { staff, student })
        {
            var token = await TokenAsync(owner, ApiScopes.UsersRead | ApiScopes.UsersWrite | ApiScopes.UsageRead);
            using var client = ApiClient(token.Secret);

            var search = await client.GetAsync(new Uri("/api/v1/users", UriKind.Relative));
            var suspend = await client.PostAsJsonAsync($"/api/v1/users/{student}/suspend", new SuspendRequest("no"));
            var usage = await client.GetAsync(new Uri("/api/v1/usage/users", UriKind.Relative));

            // One comparison of everything seen, so that a failure tells all of it at once.
            Assert.Equal(
                (owner, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, 1),
                (owner, search.StatusCode, suspend.StatusCode, usage.StatusCode, await DeniedEventsAsync(owner, $"/api/v1/users/{student}/suspend")));
        }
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.Equal(AccountStatus.Active, (await db.Accounts.SingleAsync(a => a.Username == Username.Parse(student))).Status);
    }

    [Fact]
    public async Task Usage_AdminToken_ReturnsFiguresAndRefusesABackwardPeriod()
    {
        var admin = await AdminWithAccountAsync();
        var token = await TokenAsync(admin, ApiScopes.UsageRead);
        using var client = ApiClient(token.Secret);

        foreach (var table in new[] { "users", "departments", "days", "backends" })
        {
            var response = await client.GetAsync(new Uri($"/api/v1/usage/{table}?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.ValueKind);
        }
        var backward = await client.GetAsync(new Uri("/api/v1/usage/users?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadRequest, backward.StatusCode);
    }
}
