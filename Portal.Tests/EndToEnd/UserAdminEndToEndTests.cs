using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Portal.Auth;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>An admin finds a user and suspends them; the user's session ends and their sign-in names the reason.</summary>
[Collection(BrowserCollection.Name)]
public sealed partial class UserAdminEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task Suspend_AdminSearchesOpensAndSuspends_UserSignInShowsReason()
    {
        const string password = "Browser-suspend-9";
        const string reason = "Cryptocurrency mining on the shared GPUs";
        var uid = LdapTestUsers.UniqueUsername("sus");
        LdapTestUsers.CreatePerson(uid, password);
        var env = TestEnvironment.Current;

        // The user has a session (which also creates their account row).
        await using var userPage = await PortalPage.OpenAsync(browser, portal);
        await userPage.RunAsync($"{nameof(Suspend_AdminSearchesOpensAndSuspends_UserSignInShowsReason)}-user-before", async () =>
        {
            await userPage.SignInAcceptingTermsAsync(uid, password);
            await Expect(userPage.Page.GetByTestId("greeting")).ToBeVisibleAsync();
        });

        await using var adminPage = await PortalPage.OpenAsync(browser, portal);
        var page = adminPage.Page;
        await adminPage.RunAsync(nameof(Suspend_AdminSearchesOpensAndSuspends_UserSignInShowsReason), async () =>
        {
            await adminPage.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await page.GotoAsync("/admin/users");
            await adminPage.WaitUntilInteractiveAsync();
            await page.GetByTestId("users-search").FillAsync(uid[..^2].ToUpperInvariant());
            await page.GetByTestId("users-search").PressAsync("Tab");
            var link = page.GetByTestId("users-grid").GetByTestId("user-link");
            await Expect(link).ToHaveCountAsync(1);
            await Expect(link).ToHaveTextAsync(uid);
            await link.ClickAsync();

            await Expect(page).ToHaveURLAsync(new Regex($"/admin/users/{uid}$"));
            await adminPage.WaitUntilInteractiveAsync();
            await Expect(page.GetByTestId("user-status")).ToHaveTextAsync("Active");
            await page.GetByTestId("user-suspend").ClickAsync();
            // The dialog refuses an empty reason, then takes one.
            await page.GetByTestId("suspend-confirm").ClickAsync();
            await Expect(page.GetByTestId("suspend-reason-missing")).ToBeVisibleAsync();
            await page.GetByTestId("suspend-reason").FillAsync(reason);
            await page.GetByTestId("suspend-confirm").ClickAsync();

            await Expect(page.GetByTestId("user-status")).ToHaveTextAsync("Suspended");
            await Expect(page.GetByTestId("user-suspension-reason")).ToContainTextAsync(reason);
            // The job locks LDAP; the page follows it until nothing is pending.
            await Expect(page.GetByTestId("user-locked")).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await Expect(page.GetByTestId("user-pending")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("user-audit")).ToContainTextAsync("admin.user.suspend");
        });

        // The user's existing session ends at their next request.
        await userPage.RunAsync($"{nameof(Suspend_AdminSearchesOpensAndSuspends_UserSignInShowsReason)}-user-after", async () =>
        {
            await userPage.Page.GotoAsync("/");
            await Expect(userPage.Page).ToHaveURLAsync(new Regex("/account/sign-in"));
        });

        // A new browser: sign-in is refused with the reason.
        await using var fresh = await PortalPage.OpenAsync(browser, portal);
        await fresh.RunAsync($"{nameof(Suspend_AdminSearchesOpensAndSuspends_UserSignInShowsReason)}-fresh", async () =>
        {
            await fresh.SignInAsync(uid, password);
            await Expect(fresh.Page.GetByTestId("sign-in-error"))
                .ToHaveTextAsync($"Your account is suspended: {reason}. Contact the service desk.");
            await Expect(fresh.Page).ToHaveURLAsync(new Regex("/account/sign-in"));
        });
    }

    [Fact]
    public async Task UsersPage_Student_SeesAccessDeniedAndRefusalIsAuditedWithAddress()
    {
        var uid = LdapTestUsers.UniqueUsername("den");
        LdapTestUsers.CreatePerson(uid, "Student-password-1");
        await using var studentPage = await PortalPage.OpenAsync(browser, portal);
        var page = studentPage.Page;
        await studentPage.RunAsync(nameof(UsersPage_Student_SeesAccessDeniedAndRefusalIsAuditedWithAddress), async () =>
        {
            await studentPage.SignInAcceptingTermsAsync(uid, "Student-password-1");
            await page.GotoAsync("/admin/users");
            await Expect(page.GetByTestId("access-denied")).ToBeVisibleAsync();
        });

        await using var db = portal.Database.CreateDbContext();
        var denied = await db.AuditEvents.AsNoTracking().SingleAsync(e => e.Action == AuthorizationAudit.DeniedAction && e.Actor == uid);
        Assert.Equal("/admin/users", denied.Target);
        Assert.Equal("127.0.0.1", denied.SourceAddress);
    }
}
