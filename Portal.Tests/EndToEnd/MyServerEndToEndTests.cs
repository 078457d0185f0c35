using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>What a student does every day, in Chromium against the running portal and its jobs, on the local backend.</summary>
[Collection(BrowserCollection.Name)]
public sealed class MyServerEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task MyServer_StartOpenStop_BothTabsFollowWithoutReload()
    {
        var uid = LdapTestUsers.UniqueUsername("daily");
        LdapTestUsers.CreatePerson(uid, "Daily-password-123");
        await using var tab = await PortalPage.OpenAsync(browser, portal);
        await tab.RunAsync($"{nameof(MyServer_StartOpenStop_BothTabsFollowWithoutReload)}-first", async () =>
        {
            await tab.SignInAcceptingTermsAsync(uid, "Daily-password-123");
            await tab.Page.GotoAsync("/server");
            await tab.WaitUntilInteractiveAsync();
        });
        // A second tab of the same person (same cookies).
        var second = await tab.Page.Context.NewPageAsync();
        await second.GotoAsync("/server");
        await Expect(second.GetByTestId("app-shell")).ToHaveAttributeAsync("data-interactive", "true");
        await Expect(second.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Stopped");

        var page = tab.Page;
        await tab.RunAsync($"{nameof(MyServer_StartOpenStop_BothTabsFollowWithoutReload)}-start", async () =>
        {
            await Expect(page.GetByTestId("quota-gpu")).ToContainTextAsync("1");
            await page.GetByTestId("server-start").ClickAsync();
            await Expect(page.GetByTestId("server-start")).ToBeDisabledAsync();
            await Expect(page.GetByTestId("server-progress")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("server-open")).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await Expect(page.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Running");
            await Expect(page.GetByTestId("connection-help")).ToContainTextAsync("ProxyJump");
        });

        // The other tab followed by itself, without a reload. It renders on a circuit of its own, which on a loaded
        // machine may paint the change seconds after the first tab: it gets the same allowance as the first.
        await Expect(second.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Running", new() { Timeout = 60_000 });
        await Expect(second.GetByTestId("server-open")).ToBeVisibleAsync();

        var url = await page.GetByTestId("server-open").GetAttributeAsync("href");
        using (var http = new HttpClient())
        {
            Assert.True((await http.GetAsync(new Uri(url!))).IsSuccessStatusCode, $"Jupyter at {url} did not answer 200");
        }

        await tab.RunAsync($"{nameof(MyServer_StartOpenStop_BothTabsFollowWithoutReload)}-stop", async () =>
        {
            await page.GetByTestId("server-stop").ClickAsync();
            await Expect(page.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Stopped", new() { Timeout = 30_000 });
            await Expect(page.GetByTestId("server-open")).ToHaveCountAsync(0);
        });
        await Expect(second.GetByTestId("server-state")).ToHaveAttributeAsync("data-state", "Stopped", new() { Timeout = 30_000 });
        await second.CloseAsync();
    }
}
