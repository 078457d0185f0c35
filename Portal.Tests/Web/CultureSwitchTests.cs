using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Localization;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>The language switch sets the cookie and goes back only to an address of the portal's own.</summary>
public sealed class CultureSwitchTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    [Theory]
    [InlineData("%2F%09%2Fevil.example")]
    [InlineData("/%09/evil.example")]
    [InlineData("/%0d%0aSet-Cookie:%20x=1")]
    [InlineData("/%0a/evil.example")]
    [InlineData("/%E3%80%80")]
    [InlineData("/admin/%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC")]
    [InlineData("/%00")]
    [InlineData("/%7F")]
    [InlineData("//evil.example")]
    [InlineData("/%5Cevil.example")]
    [InlineData("https://evil.example/")]
    public async Task Switch_ReturnUrlNotAPlainLocalPath_RedirectsHome(string returnUrl)
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri($"{CultureSetup.SetCulturePath}?name=ja&returnUrl={returnUrl}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", HttpSignIn.LocalTarget(response));
        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(".AspNetCore.Culture=", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/admin/users?search=a%20b", "/admin/users?search=a%20b")]
    [InlineData("/review", "/review")]
    [InlineData("/", "/")]
    public async Task Switch_LocalReturnUrl_RedirectsThere(string returnUrl, string expected)
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri($"{CultureSetup.SetCulturePath}?name=en&returnUrl={Uri.EscapeDataString(returnUrl)}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(expected, HttpSignIn.LocalTarget(response));
    }
}
