using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>The static sign-in form and the auth rules around it, over HTTP without a browser.</summary>
public sealed partial class SignInFormTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    [Fact]
    public async Task ProtectedPage_Anonymous_RedirectsToSignInWithReturnUrl()
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri("/admin/audit", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith(AuthenticationSetup.SignInPath, response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        Assert.Contains("ReturnUrl=%2Fadmin%2Faudit", response.Headers.Location.Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_WithoutAntiforgeryToken_Rejected()
    {
        using var client = Client();
        var env = TestEnvironment.Current;

        var response = await client.PostAsync(new Uri(AuthenticationSetup.SignInPath, UriKind.Relative), new FormUrlEncodedContent(
            new Dictionary<string, string> { ["_handler"] = "sign-in", ["Input.Username"] = env.AdminUsername, ["Input.Password"] = env.AdminPassword }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain(CookieNames(response), c => c == AuthenticationSetup.CookieName);
    }

    [Fact]
    public async Task Post_RightPassword_SetsHttpOnlyLaxCookieAndRedirectsToReturnUrl()
    {
        using var client = Client();
        var env = TestEnvironment.Current;

        var response = await HttpSignIn.PostAsync(client, env.AdminUsername, env.AdminPassword, returnUrl: "/admin/audit");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/admin/audit", HttpSignIn.LocalTarget(response));
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(AuthenticationSetup.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
        // Signed in: the admin page is reachable, once the terms in force are accepted.
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/admin/audit", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Post_ForeignReturnUrl_RedirectsHomeInstead()
    {
        using var client = Client();
        var env = TestEnvironment.Current;

        var response = await HttpSignIn.PostAsync(client, env.AdminUsername, env.AdminPassword, returnUrl: "//evil.example/phish");

        Assert.Equal("/", HttpSignIn.LocalTarget(response));
    }

    [Theory]
    [InlineData("wrong-password-1")]
    [InlineData("")]
    public async Task Post_WrongOrEmptyPassword_ShowsMessageAndSetsNoAuthCookie(string password)
    {
        using var client = Client();

        var response = await HttpSignIn.PostAsync(client, TestEnvironment.Current.AdminUsername, password);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("data-testid=\"sign-in-error\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain(CookieNames(response), c => c == AuthenticationSetup.CookieName);
    }

    [Fact]
    public async Task Post_UnknownUserAndWrongPassword_ShowTheSameMessage()
    {
        using var client = Client();

        var unknown = await ErrorTextAsync(await HttpSignIn.PostAsync(client, LdapTestUsers.UniqueUsername("ghost"), "some-password-1"));
        var wrong = await ErrorTextAsync(await HttpSignIn.PostAsync(client, TestEnvironment.Current.AdminUsername, "some-password-1"));

        Assert.Equal("The username or password is incorrect.", unknown);
        Assert.Equal(unknown, wrong);
    }

    [Fact]
    public async Task AdminPage_SignedInStudent_RedirectsToAccessDenied()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("stu");
        LdapTestUsers.CreatePerson(uid, "Student-password-1");
        await HttpSignIn.PostAsync(client, uid, "Student-password-1");

        var response = await client.GetAsync(new Uri("/admin/audit", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith(AuthenticationSetup.AccessDeniedPath, response.Headers.Location!.AbsolutePath, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnyPage_PasswordMustChange_RedirectsToChangePassword()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, "Initial-password-1", mustChangePassword: true);

        var signIn = await HttpSignIn.PostAsync(client, uid, "Initial-password-1", returnUrl: "/");
        var home = await client.GetAsync(new Uri("/", UriKind.Relative));

        Assert.Equal(AuthenticationSetup.ChangePasswordPath, HttpSignIn.LocalTarget(signIn));
        Assert.Equal(HttpStatusCode.Redirect, home.StatusCode);
        Assert.Equal(AuthenticationSetup.ChangePasswordPath, HttpSignIn.LocalTarget(home));
    }

    [Fact]
    public async Task SignOut_WithToken_ClearsCookie()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);
        var home = await client.GetStringAsync(new Uri("/", UriKind.Relative));
        var token = HttpSignIn.AntiforgeryToken(home);

        var response = await client.PostAsync(new Uri(AuthenticationSetup.SignOutPath, UriKind.Relative),
            new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(AuthenticationSetup.CookieName + "=;", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task SignOut_WithoutToken_Rejected()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var response = await client.PostAsync(new Uri(AuthenticationSetup.SignOutPath, UriKind.Relative), new FormUrlEncodedContent([]));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
    }

    private static async Task<string> ErrorTextAsync(HttpResponseMessage response)
    {
        var match = ErrorBlock().Match(await response.Content.ReadAsStringAsync());
        Assert.True(match.Success, "no sign-in error shown");
        return WebUtility.HtmlDecode(match.Groups["text"].Value);
    }

    private static IEnumerable<string> CookieNames(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var values) ? values.Select(v => v.Split('=')[0]) : [];

    [GeneratedRegex("data-testid=\"sign-in-error\">(?<text>[^<]*)<")]
    private static partial Regex ErrorBlock();
}
