using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Auth;
using Portal.Security;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>Every response, page or API, success or refusal, carries the security headers of Security/SecurityHeaders.cs.</summary>
public sealed class SecurityHeadersTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static void AssertHeaders(HttpResponseMessage response, string contentSecurityPolicy)
    {
        var what = $"{response.RequestMessage!.RequestUri} ({(int)response.StatusCode})";
        Assert.True(response.Headers.TryGetValues("Content-Security-Policy", out var csp), $"no CSP on {what}");
        Assert.Equal(contentSecurityPolicy, Assert.Single(csp));
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.Equal(SecurityHeaders.ReferrerPolicy, Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        Assert.Equal(SecurityHeaders.PermissionsPolicy, Assert.Single(response.Headers.GetValues("Permissions-Policy")));
    }

    [Theory]
    [InlineData("/account/sign-in", HttpStatusCode.OK)]
    [InlineData("/", HttpStatusCode.Redirect)]
    [InlineData("/no-such-page", HttpStatusCode.NotFound)]
    [InlineData("/app.css", HttpStatusCode.OK)]
    [InlineData("/_framework/blazor.web.js", HttpStatusCode.OK)]
    [InlineData("/healthz", HttpStatusCode.OK)]
    public async Task Page_Anonymous_CarriesThePagePolicy(string path, HttpStatusCode status)
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(status, response.StatusCode);
        AssertHeaders(response, SecurityHeaders.PageContentSecurityPolicy);
    }

    [Fact]
    public async Task InteractivePage_SignedIn_OnePolicyWithFrameAncestorsNone()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var response = await client.GetAsync(new Uri("/admin/users", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertHeaders(response, SecurityHeaders.PageContentSecurityPolicy);
        Assert.Contains("frame-ancestors 'none'", SecurityHeaders.PageContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", SecurityHeaders.PageContentSecurityPolicy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", SecurityHeaders.PageContentSecurityPolicy, StringComparison.Ordinal);
        Assert.DoesNotMatch("script-src[^;]*unsafe-inline", SecurityHeaders.PageContentSecurityPolicy);
    }

    [Theory]
    [InlineData("/api/v1/openapi.json", HttpStatusCode.OK)]
    [InlineData("/api/v1/users", HttpStatusCode.Unauthorized)]
    [InlineData("/api/v1/no-such-thing", HttpStatusCode.NotFound)]
    public async Task Api_CarriesTheApiPolicy(string path, HttpStatusCode status)
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(status, response.StatusCode);
        AssertHeaders(response, SecurityHeaders.ApiContentSecurityPolicy);
    }

    [Fact]
    public async Task SignInForm_Post_CarriesThePagePolicy()
    {
        using var client = Client();
        var env = TestEnvironment.Current;

        var response = await HttpSignIn.PostAsync(client, env.AdminUsername, "wrong-password-1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertHeaders(response, SecurityHeaders.PageContentSecurityPolicy);
        Assert.StartsWith(AuthenticationSetup.SignInPath, response.RequestMessage!.RequestUri!.AbsolutePath, StringComparison.Ordinal);
    }
}
