using System.Net;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

public sealed class HealthTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    [Fact]
    public async Task Healthz_ProcessUp_Returns200()
    {
        using var client = app.CreateClient();
        var response = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Readyz_DatabaseAndLdapUp_Returns200()
    {
        using var client = app.CreateClient();
        var response = await client.GetAsync(new Uri("/readyz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_LdapUnreachable_Returns503WhileHealthzStays200()
    {
        var broken = new PortalAppFactory(kestrel: false, new Dictionary<string, string?> { ["Ldap:Port"] = "1", ["Ldap:TimeoutSeconds"] = "2" });
        await ((IAsyncLifetime)broken).InitializeAsync();
        try
        {
            using var client = broken.CreateClient();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        }
        finally
        {
            await ((IAsyncLifetime)broken).DisposeAsync();
        }
    }
}
