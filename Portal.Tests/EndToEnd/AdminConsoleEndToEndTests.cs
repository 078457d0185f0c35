using System.Net;
using System.Net.Http.Headers;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>An admin issues an API token in the browser, a script uses it, the admin revokes it; the dashboard draws.</summary>
[Collection(BrowserCollection.Name)]
public sealed class AdminConsoleEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task Tokens_AdminCreatesUsesAndRevokes_ApiFollows()
    {
        var env = TestEnvironment.Current;
        await using var admin = await PortalPage.OpenAsync(browser, portal);
        var page = admin.Page;
        await admin.RunAsync(nameof(Tokens_AdminCreatesUsesAndRevokes_ApiFollows), async () =>
        {
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await page.GotoAsync("/admin/tokens");
            await admin.WaitUntilInteractiveAsync();

            // Nothing chosen: refused with the reason, nothing created.
            await page.GetByTestId("token-create").ClickAsync();
            await Expect(page.GetByTestId("token-error")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("token-secret")).ToHaveCountAsync(0);

            await page.GetByTestId("token-owner").FillAsync(env.AdminUsername);
            await page.GetByTestId("token-name").FillAsync("nightly report");
            await page.GetByTestId("token-scopes").GetByText("users:read").ClickAsync();
            await page.GetByTestId("token-create").ClickAsync();
            var secret = (await page.GetByTestId("token-secret").InnerTextAsync()).Trim();
            Assert.StartsWith("gjp_", secret, StringComparison.Ordinal);
            await Expect(page.GetByTestId("tokens")).ToContainTextAsync("nightly report");

            using var api = new HttpClient { BaseAddress = portal.ServerAddress };
            api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(new Uri("/api/v1/users?search=admin", UriKind.Relative))).StatusCode);
            // The scope chosen was users:read only.
            Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync(new Uri("/api/v1/usage/users", UriKind.Relative))).StatusCode);

            await page.GetByTestId("tokens").GetByTestId("token-revoke").First.ClickAsync();
            await page.Locator(".rz-dialog").GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
            await Expect(page.GetByTestId("tokens")).Not.ToContainTextAsync("nightly report");
            Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(new Uri("/api/v1/users", UriKind.Relative))).StatusCode);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "admin-tokens.png"), FullPage = true });
        });
    }

    [Fact]
    public async Task Usage_AdminOpensDashboardAndChangesPeriod_ChartsDraw()
    {
        var env = TestEnvironment.Current;
        await using var admin = await PortalPage.OpenAsync(browser, portal);
        var page = admin.Page;
        await admin.RunAsync(nameof(Usage_AdminOpensDashboardAndChangesPeriod_ChartsDraw), async () =>
        {
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await page.GotoAsync("/admin/usage");
            await admin.WaitUntilInteractiveAsync();
            var before = await page.GetByTestId("usage-period-text").InnerTextAsync();

            foreach (var chart in new[] { "chart-applications", "chart-concurrency", "chart-top-users", "chart-departments", "chart-spawn", "chart-failures" })
            {
                await Expect(page.GetByTestId(chart).Locator("svg").First).ToBeVisibleAsync();
            }
            await page.GetByTestId("usage-period-choice").ClickAsync();
            await page.GetByRole(Microsoft.Playwright.AriaRole.Option, new() { Name = "Last 30 days" }).ClickAsync();

            await Expect(page.GetByTestId("usage-period-text")).Not.ToHaveTextAsync(before);
            await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, "admin-usage.png"), FullPage = true });
        });
    }
}
