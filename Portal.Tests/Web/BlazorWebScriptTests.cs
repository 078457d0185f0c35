using System.Net;
using Portal.Hosting;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

public sealed class BlazorWebScriptTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    [Fact]
    public async Task Get_Script_ServesBlazorWebJsWithETag()
    {
        using var client = app.CreateClient();

        var response = await client.GetAsync(new Uri(BlazorWebScript.RequestPath, UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(response.Headers.ETag);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(body.Length > 100_000, $"blazor.web.js is only {body.Length} bytes");
        Assert.Contains("Blazor", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ScriptWithMatchingETag_Returns304()
    {
        using var client = app.CreateClient();
        var first = await client.GetAsync(new Uri(BlazorWebScript.RequestPath, UriKind.Relative));

        using var request = new HttpRequestMessage(HttpMethod.Get, BlazorWebScript.RequestPath);
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        var second = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
    }

    [Fact]
    public void ReadFrom_AssemblyWithoutTheResource_ThrowsNamingIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BlazorWebScript.ReadFrom(typeof(BlazorWebScript).Assembly.Location));
        Assert.Contains(BlazorWebScript.ResourceName, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFrom_MissingFile_ThrowsWithHowToFix()
    {
        var error = Assert.Throws<FileNotFoundException>(() => BlazorWebScript.ReadFrom("/nonexistent/Microsoft.AspNetCore.Components.Endpoints.dll"));
        Assert.Contains("Build the Portal project", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignInPage_References_TheServedScript()
    {
        using var client = app.CreateClient();
        var html = await client.GetStringAsync(new Uri("/account/sign-in", UriKind.Relative));
        Assert.Contains("src=\"_framework/blazor.web.js\"", html, StringComparison.Ordinal);
    }
}
