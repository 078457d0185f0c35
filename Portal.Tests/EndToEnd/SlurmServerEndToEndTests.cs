using System.Text.RegularExpressions;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>My server on the Slurm backend in Chromium: Start, the page shows the SSH tunnel to the node, Stop.</summary>
[Collection(BrowserCollection.Name)]
public sealed partial class SlurmServerEndToEndTests(BrowserFixture browser, SlurmKestrelPortal portal) : IClassFixture<SlurmKestrelPortal>
{
    [Fact]
    public async Task MyServerOnSlurm_Start_ShowsTunnelCommandThenStops()
    {
        await using var node = await SlurmFixture.HoldNodeAsync();
        var uid = LdapTestUsers.UniqueUsername("slu");
        LdapTestUsers.CreatePerson(uid, "Cluster-password-123");
        await using var tab = await PortalPage.OpenAsync(browser, portal);
        var page = tab.Page;
        await tab.RunAsync(nameof(MyServerOnSlurm_Start_ShowsTunnelCommandThenStops), async () =>
        {
            await tab.SignInAcceptingTermsAsync(uid, "Cluster-password-123");
            await page.GotoAsync("/server");
            await tab.WaitUntilInteractiveAsync();

            await page.GetByTestId("server-start").ClickAsync();
            await Expect(page.GetByTestId("server-progress")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Running", new() { Timeout = 90_000 });

            // ssh -N -L PORT:NODE:PORT user@login-host, as the seed cluster prints it.
            await Expect(page.GetByTestId("tunnel-command")).ToHaveTextAsync(TunnelPattern());
            await Expect(page.GetByTestId("tunnel-command")).ToContainTextAsync($"{uid}@");

            await page.GetByTestId("server-stop").ClickAsync();
            await Expect(page.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Stopped", new() { Timeout = 60_000 });
        });
    }

    [GeneratedRegex(@"^ssh -N -L (\d+):[A-Za-z0-9.-]+:\1 [a-z0-9_-]+@\S+$")]
    private static partial Regex TunnelPattern();
}
