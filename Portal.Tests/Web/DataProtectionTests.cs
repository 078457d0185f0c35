using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>Keys live in the database, so a cookie issued by one portal node is accepted by another.</summary>
public sealed class DataProtectionTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    [Fact]
    public async Task AuthCookie_IssuedByOneNode_AcceptedBySecondNodeOnSameDatabase()
    {
        var options = new WebApplicationFactoryClientOptions { AllowAutoRedirect = false };
        using var first = app.CreateClient(options);
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(first, env.AdminUsername, env.AdminPassword);
        // The cookie re-issued after accepting the terms is the one a second node must accept.
        var signIn = await HttpSignIn.PostAsync(first, env.AdminUsername, env.AdminPassword);
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(AuthenticationSetup.CookieName + "=", StringComparison.Ordinal)).Split(';')[0];

        IAsyncLifetime secondNode = new PortalAppFactory(kestrel: false,
            new Dictionary<string, string?> { ["ConnectionStrings:Portal"] = app.Database.ConnectionString });
        HttpResponseMessage response;
        await secondNode.InitializeAsync();
        try
        {
            using var second = ((PortalAppFactory)secondNode).CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("Cookie", cookie);
            response = await second.SendAsync(request);
        }
        finally
        {
            await secondNode.DisposeAsync();
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var db = app.Database.CreateDbContext();
        Assert.True(await db.DataProtectionKeys.AnyAsync());
    }
}
