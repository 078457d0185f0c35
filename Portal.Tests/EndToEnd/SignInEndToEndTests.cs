using System.Text.RegularExpressions;
using Portal.Auth;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>A person's path through sign-in in headless Chromium against the portal on a real port.</summary>
[Collection(BrowserCollection.Name)]
public sealed partial class SignInEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task SignIn_SeededAdmin_SeesAdminNavigationAndInteractiveDetails()
    {
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(SignIn_SeededAdmin_SeesAdminNavigationAndInteractiveDetails), async () =>
        {
            var env = TestEnvironment.Current;
            await page.GotoAsync("/");
            await Expect(page).ToHaveURLAsync(SignInUrl());

            await portalPage.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);

            await Expect(page.GetByTestId("greeting")).ToContainTextAsync("Welcome, Portal Administrator");
            await Expect(page.GetByTestId("nav-admin")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("signed-in-as")).ToHaveTextAsync(env.AdminUsername);
            await portalPage.WaitUntilInteractiveAsync();

            // Only a live circuit can handle this click: it fails if blazor.web.js is not served or does not connect.
            await Expect(page.GetByTestId("account-details")).ToHaveCountAsync(0);
            await page.GetByTestId("toggle-details").ClickAsync();
            await Expect(page.GetByTestId("role")).ToHaveTextAsync("Administrator");
            await page.GetByTestId("toggle-details").ClickAsync();
            await Expect(page.GetByTestId("account-details")).ToHaveCountAsync(0);
        });
    }

    [Fact]
    public async Task SignIn_WrongPassword_ShowsMessageAndSetsNoAuthCookie()
    {
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(SignIn_WrongPassword_ShowsMessageAndSetsNoAuthCookie), async () =>
        {
            await portalPage.SignInAsync(TestEnvironment.Current.AdminUsername, "not-the-password-1");

            await Expect(page.GetByTestId("sign-in-error")).ToHaveTextAsync("The username or password is incorrect.");
            await Expect(page).ToHaveURLAsync(SignInUrl());
            Assert.DoesNotContain(await portalPage.CookiesAsync(), c => c.Name == AuthenticationSetup.CookieName);
            await page.GotoAsync("/");
            await Expect(page).ToHaveURLAsync(SignInUrl());
        });
    }

    [Fact]
    public async Task SignIn_Student_SeesNoAdminNavigationAndIsDeniedAdminPages()
    {
        var uid = LdapTestUsers.UniqueUsername("stu");
        LdapTestUsers.CreatePerson(uid, "Student-password-1");
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(SignIn_Student_SeesNoAdminNavigationAndIsDeniedAdminPages), async () =>
        {
            await portalPage.SignInAcceptingTermsAsync(uid, "Student-password-1");

            await Expect(page.GetByTestId("greeting")).ToBeVisibleAsync();
            await portalPage.WaitUntilInteractiveAsync();
            await Expect(page.GetByTestId("nav")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("nav-admin")).ToHaveCountAsync(0);

            await page.GotoAsync("/admin/audit");
            await Expect(page.GetByTestId("access-denied")).ToBeVisibleAsync();
        });
    }

    [Fact]
    public async Task SignIn_PasswordMustChange_OnlyReachesChangePasswordPage()
    {
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, "Initial-password-1", mustChangePassword: true);
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(SignIn_PasswordMustChange_OnlyReachesChangePasswordPage), async () =>
        {
            await portalPage.SignInAsync(uid, "Initial-password-1");
            await Expect(page.GetByTestId("change-password")).ToBeVisibleAsync();

            await page.GotoAsync("/");
            await Expect(page).ToHaveURLAsync(new Regex("/account/change-password$"));
        });
    }

    [Fact]
    public async Task LanguageSwitch_Japanese_SticksAcrossReloadAndSignIn()
    {
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(LanguageSwitch_Japanese_SticksAcrossReloadAndSignIn), async () =>
        {
            var env = TestEnvironment.Current;
            await page.GotoAsync("/account/sign-in");
            await page.GetByTestId("language-ja").ClickAsync();

            await Expect(page.Locator("h1")).ToHaveTextAsync("サインイン");
            await page.ReloadAsync();
            await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "ja");

            await portalPage.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await Expect(page.GetByTestId("greeting")).ToContainTextAsync("ようこそ");
            await portalPage.WaitUntilInteractiveAsync();
            await page.GetByTestId("toggle-details").ClickAsync();
            await Expect(page.GetByTestId("role")).ToHaveTextAsync("管理者");

            await page.GetByTestId("language-en").ClickAsync();
            await Expect(page.GetByTestId("greeting")).ToContainTextAsync("Welcome");
        });
    }

    [Fact]
    public async Task AuditLog_AdminSearches_SeesOnlyMatchingEvents()
    {
        var uid = LdapTestUsers.UniqueUsername("aud");
        LdapTestUsers.CreatePerson(uid, "Audited-password-1");
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(AuditLog_AdminSearches_SeesOnlyMatchingEvents), async () =>
        {
            await portalPage.SignInAsync(uid, "wrong-password-12");
            await Expect(page.GetByTestId("sign-in-error")).ToBeVisibleAsync();
            var env = TestEnvironment.Current;
            await portalPage.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await Expect(page.GetByTestId("greeting")).ToBeVisibleAsync();

            await page.GotoAsync("/admin/audit");
            await portalPage.WaitUntilInteractiveAsync();
            var search = page.GetByTestId("audit-search");
            await search.FillAsync(uid);
            await search.PressAsync("Enter");

            var rows = page.Locator("[data-testid=audit-grid] tbody tr");
            await Expect(rows).ToHaveCountAsync(1);
            await Expect(rows.First).ToContainTextAsync("auth.sign-in-refused");
            await Expect(rows.First).ToContainTextAsync(uid);
        });
    }

    [Fact]
    public async Task SignOut_SignedInAdmin_ReturnsToSignInAndForgetsSession()
    {
        await using var portalPage = await PortalPage.OpenAsync(browser, portal);
        var page = portalPage.Page;
        await portalPage.RunAsync(nameof(SignOut_SignedInAdmin_ReturnsToSignInAndForgetsSession), async () =>
        {
            var env = TestEnvironment.Current;
            await portalPage.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await Expect(page.GetByTestId("greeting")).ToBeVisibleAsync();

            await page.GetByTestId("sign-out").ClickAsync();

            await Expect(page.GetByTestId("signed-out")).ToBeVisibleAsync();
            Assert.DoesNotContain(await portalPage.CookiesAsync(), c => c.Name == AuthenticationSetup.CookieName);
            await page.GotoAsync("/");
            await Expect(page).ToHaveURLAsync(SignInUrl());
        });
    }

    private static Regex SignInUrl() => SignInUrlPattern();

    [GeneratedRegex("/account/sign-in")]
    private static partial Regex SignInUrlPattern();
}
