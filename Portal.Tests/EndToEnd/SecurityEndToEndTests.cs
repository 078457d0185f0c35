using Microsoft.Playwright;
using Portal.Security;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>
/// The pages in headless Chromium under the portal's Content-Security-Policy (PortalPage fails a journey on any
/// violation), and the admin lists' filter boxes given control characters.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class SecurityEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task Pages_AdminVisitsEveryPage_NoPolicyViolationAndCircuitsRun()
    {
        var env = TestEnvironment.Current;
        (string Path, bool Interactive)[] pages =
        [
            ("/", true), ("/server", true), ("/admin/users", true), ($"/admin/users/{env.AdminUsername}", true), ("/review", true),
            ("/admin/audit", true), ("/admin/usage", true), ("/admin/jobs", true), ("/admin/tokens", true), ("/admin/terms", true),
            ("/admin/announcements", true), ("/admin/import", true), ("/account/change-password", false), ("/no-such-page", false),
        ];
        await using var admin = await PortalPage.OpenAsync(browser, portal);
        await admin.RunAsync(nameof(Pages_AdminVisitsEveryPage_NoPolicyViolationAndCircuitsRun), async () =>
        {
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            foreach (var (path, interactive) in pages)
            {
                var response = await admin.Page.GotoAsync(path);
                Assert.Equal(SecurityHeaders.PageContentSecurityPolicy, await response!.HeaderValueAsync("content-security-policy"));
                if (interactive)
                {
                    await admin.WaitUntilInteractiveAsync();
                }
                // Whatever the page loads or draws after it became interactive (charts, grids) is in by now.
                await admin.Page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            }
            // Collapse the sidebar: Radzen sets its width from script.
            await admin.Page.GotoAsync($"/admin/users/{env.AdminUsername}");
            await admin.WaitUntilInteractiveAsync();
            await admin.Page.GetByTestId("sidebar-toggle").ClickAsync();
            await Expect(admin.Page.GetByTestId("sidebar")).ToHaveAttributeAsync("data-expanded", "false");
        });
    }

    [Fact]
    public async Task Pages_Anonymous_NoPolicyViolation()
    {
        await using var visitor = await PortalPage.OpenAsync(browser, portal, locale: "ja-JP");
        await visitor.RunAsync(nameof(Pages_Anonymous_NoPolicyViolation), async () =>
        {
            foreach (var path in new[] { "/account/sign-in", "/apply", "/account/access-denied", "/no-such-page" })
            {
                await visitor.Page.GotoAsync(path);
                await visitor.Page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            }
            await visitor.Page.GetByTestId("language-en").ClickAsync();
            await Expect(visitor.Page.GetByTestId("language-en")).ToHaveAttributeAsync("aria-current", "true");
        });
    }

    [Fact]
    public async Task Policy_InlineScriptInjected_BlockedAndReported()
    {
        await using var visitor = await PortalPage.OpenAsync(browser, portal);
        await visitor.Page.GotoAsync("/account/sign-in");

        var ran = await visitor.Page.EvaluateAsync<bool>("""
            () => {
                const script = document.createElement('script');
                script.textContent = 'window.injectedScriptRan = true;';
                document.body.appendChild(script);
                return window.injectedScriptRan === true;
            }
            """);

        Assert.False(ran);
        await Expect(visitor.Page.GetByTestId("sign-in-submit")).ToBeVisibleAsync();
        Assert.Contains(visitor.PolicyViolations, v => v.Contains("script-src", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FilterBoxes_ControlCharacterTyped_RemovedWithMessageAndListsKeepWorking()
    {
        var env = TestEnvironment.Current;
        await using var admin = await PortalPage.OpenAsync(browser, portal);
        var page = admin.Page;
        await admin.RunAsync(nameof(FilterBoxes_ControlCharacterTyped_RemovedWithMessageAndListsKeepWorking), async () =>
        {
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);

            await page.GotoAsync("/admin/users");
            await admin.WaitUntilInteractiveAsync();
            await page.GetByTestId("users-search").FillAsync(env.AdminUsername + "\u0000");
            await page.GetByTestId("users-search").PressAsync("Tab");
            await Expect(page.GetByTestId("users-search-cleaned")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("users-search")).ToHaveValueAsync(env.AdminUsername);
            await Expect(page.GetByTestId("users-grid").GetByTestId("user-link")).ToHaveTextAsync(env.AdminUsername);
            // A clean text takes the message away again: the circuit is alive.
            await page.GetByTestId("users-search").FillAsync(env.AdminUsername.ToUpperInvariant());
            await page.GetByTestId("users-search").PressAsync("Tab");
            await Expect(page.GetByTestId("users-search-cleaned")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("users-grid").GetByTestId("user-link")).ToHaveTextAsync(env.AdminUsername);

            await page.GotoAsync("/review");
            await admin.WaitUntilInteractiveAsync();
            await page.GetByTestId("review-search").FillAsync("\u0000\u001b[31m");
            await page.GetByTestId("review-search").PressAsync("Tab");
            await Expect(page.GetByTestId("review-search-cleaned")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("review-search")).ToHaveValueAsync("[31m");
            await Expect(page.Locator("#blazor-error-ui")).ToBeHiddenAsync();

            await page.GotoAsync("/admin/audit");
            await admin.WaitUntilInteractiveAsync();
            await page.GetByTestId("audit-actor").FillAsync("\u0000" + env.AdminUsername);
            await page.GetByTestId("audit-actor").PressAsync("Tab");
            await Expect(page.GetByTestId("audit-actor-cleaned")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("audit-grid").Locator("tbody tr").First).ToContainTextAsync(env.AdminUsername);
            await Expect(page.Locator("#blazor-error-ui")).ToBeHiddenAsync();
        });
    }
}
