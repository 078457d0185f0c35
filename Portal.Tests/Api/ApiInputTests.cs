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
using Portal.Domain.Common;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Api;

/// <summary>What the API (and the service behind the pages' suspend dialog) does with texts it must not pass on, and what it shows of a suspension.</summary>
public sealed class ApiInputTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Password = "Api-input-password-1";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private async Task<HttpClient> AdminClientAsync()
    {
        var env = TestEnvironment.Current;
        using (var signIn = Client())
        {
            await HttpSignIn.SignInAcceptingTermsAsync(signIn, env.AdminUsername, env.AdminPassword);
        }
        var issued = await app.Services.GetRequiredService<AccessTokenService>().IssueAsync(env.AdminUsername, "input test",
            ApiScopes.UsersRead | ApiScopes.UsersWrite | ApiScopes.ApplicationsRead | ApiScopes.ApplicationsWrite,
            DateTimeOffset.UtcNow.AddDays(1), new AuditActor(env.AdminUsername, null), CancellationToken.None);
        var client = Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Assert.IsType<IssueResult.Issued>(issued).Token.Secret);
        return client;
    }

    private async Task<string> StudentAsync()
    {
        var uid = LdapTestUsers.UniqueUsername("apiin");
        LdapTestUsers.CreatePerson(uid, Password);
        using var client = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, Password);
        return uid;
    }

    private static async Task AssertProblemNamingAsync(HttpResponseMessage response, string field)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out var messages), problem.RootElement.GetRawText());
        Assert.Contains("control characters", messages[0].GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/v1/users?search=%00", "search")]
    [InlineData("/api/v1/users?search=ab%00cd&role=student", "search")]
    [InlineData("/api/v1/users?department=%00", "department")]
    [InlineData("/api/v1/users?search=%1B%5B31m", "search")]
    [InlineData("/api/v1/applications?search=%00", "search")]
    [InlineData("/api/v1/applications?department=%00", "department")]
    public async Task Search_ControlCharacterInQuery_ValidationProblemNamingTheField(string path, string field)
    {
        using var client = await AdminClientAsync();

        var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        await AssertProblemNamingAsync(response, field);
    }

    [Fact]
    public async Task Suspend_NulInReason_ValidationProblemAndAccountUnchanged()
    {
        var student = await StudentAsync();
        using var client = await AdminClientAsync();

        var response = await client.PostAsJsonAsync($"/api/v1/users/{student}/suspend", new SuspendRequest("unpaid\u0000fees"));

        await AssertProblemNamingAsync(response, "reason");
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.Equal(AccountStatus.Active, (await db.Accounts.SingleAsync(a => a.Username == Username.Parse(student))).Status);
    }

    [Fact]
    public async Task UserAdminSuspend_NulInReasonFromTheDialog_InvalidAndAccountUnchanged()
    {
        var student = await StudentAsync();
        var users = app.Services.GetRequiredService<UserAdminService>();

        var result = await users.SuspendAsync(Username.Parse(student), "unpaid\u0000fees",
            new AuditActor(TestEnvironment.Current.AdminUsername, null), CancellationToken.None);

        Assert.Equal(UserActionOutcome.Invalid, result.Outcome);
        Assert.Contains("control characters", result.Message, StringComparison.Ordinal);
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.Equal(AccountStatus.Active, (await db.Accounts.SingleAsync(a => a.Username == Username.Parse(student))).Status);
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "admin.user.suspend" && e.Target == student));
    }

    [Fact]
    public async Task IssueToken_NulInName_InvalidNamingTheNameAndNoTokenStored()
    {
        var owner = await StudentAsync();
        var tokens = app.Services.GetRequiredService<AccessTokenService>();

        var result = await tokens.IssueAsync(owner, "backup\u0000script", ApiScopes.UsersRead, DateTimeOffset.UtcNow.AddDays(30),
            new AuditActor(TestEnvironment.Current.AdminUsername, null), CancellationToken.None);

        var invalid = Assert.IsType<IssueResult.Invalid>(result);
        Assert.Equal((nameof(AccessToken.Name), ControlCharacters.Message("name"), true), (invalid.Field, invalid.Message, invalid.HasControlCharacters));
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        Assert.False(await db.AccessTokens.AnyAsync(t => t.Owner == Username.Parse(owner)));
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "admin.token.create" && e.Target == owner));
    }

    [Fact]
    public async Task RejectApplication_NulInReason_ValidationProblemAndApplicationUnchanged()
    {
        var (id, _, _) = await new OnboardingServices(app.Database).SubmitAsync();
        using var client = await AdminClientAsync();

        var response = await client.PostAsJsonAsync($"/api/v1/applications/{id}/reject", new RejectRequest("Not a\r\nstudent\u0000"));

        await AssertProblemNamingAsync(response, "reason");
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        var application = await db.Applications.AsNoTracking().SingleAsync(a => a.Id == id);
        Assert.Equal((ApplicationState.Submitted, null), (application.State, application.RejectionReason));
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "application.rejected" && e.Target == ProvisioningService.ApplicationTarget(id)));
    }

    [Fact]
    public async Task Suspend_MultiLineReason_Accepted()
    {
        var student = await StudentAsync();
        using var client = await AdminClientAsync();

        var response = await client.PostAsJsonAsync($"/api/v1/users/{student}/suspend", new SuspendRequest("Mining on GPU 0.\r\nSee ticket 42."));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task UserDetail_Reinstated_ShowsNoSuspensionReason()
    {
        var student = await StudentAsync();
        using var client = await AdminClientAsync();
        Assert.Equal(HttpStatusCode.Accepted,
            (await client.PostAsJsonAsync($"/api/v1/users/{student}/suspend", new SuspendRequest("API test: abuse"))).StatusCode);
        Assert.Equal("API test: abuse", (await client.GetFromJsonAsync<UserDetailDto>($"/api/v1/users/{student}"))!.SuspensionReason);

        var reinstated = await client.PostAsync(new Uri($"/api/v1/users/{student}/reinstate", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Accepted, reinstated.StatusCode);
        var detail = await client.GetFromJsonAsync<UserDetailDto>($"/api/v1/users/{student}");
        Assert.Equal("Active", detail!.Status);
        Assert.Null(detail.SuspensionReason);
        // The reason is not lost: the audit log keeps it with the suspension.
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        var suspension = await db.AuditEvents.AsNoTracking().SingleAsync(e => e.Action == "admin.user.suspend" && e.Target == student);
        Assert.Contains("API test: abuse", suspension.Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UserDetail_ActiveRowWithAStaleReason_ShowsNoSuspensionReason()
    {
        // A row reinstated before the domain cleared the reason on reinstatement still holds one.
        var student = await StudentAsync();
        await using (var db = await app.Database.ContextFactory().CreateDbContextAsync())
        {
            await db.Database.ExecuteSqlAsync($"UPDATE accounts SET suspension_reason = 'old reason' WHERE username = {student}");
        }
        using var client = await AdminClientAsync();

        var detail = await client.GetFromJsonAsync<UserDetailDto>($"/api/v1/users/{student}");

        Assert.Equal("Active", detail!.Status);
        Assert.Null(detail.SuspensionReason);
    }
}
