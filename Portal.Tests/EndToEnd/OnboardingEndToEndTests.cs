using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>
/// The path every student takes, in headless Chromium against the running portal with its Hangfire jobs, real
/// LDAP and the SMTP sink: apply, staff approve, the one-time link from the mail, first sign-in, forced
/// password change, terms, home. And the rejection that reaches the applicant with its reason.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class OnboardingEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    private static readonly TimeSpan MailTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Onboarding_ApplyApproveFirstSignIn_LandsOnHomePage()
    {
        var uid = LdapTestUsers.UniqueUsername("stu");
        var email = $"{uid}@keio.jp";
        var staff = await StaffAsync();

        await using var applicant = await PortalPage.OpenAsync(browser, portal);
        await applicant.RunAsync($"{nameof(Onboarding_ApplyApproveFirstSignIn_LandsOnHomePage)}-apply", async () =>
        {
            await ApplyAsync(applicant.Page, uid, email);
            await Expect(applicant.Page.GetByTestId("apply-submitted")).ToBeVisibleAsync();
        });
        var received = await SmtpSink.WaitForAsync(email, MailTimeout);
        Assert.Contains("/apply/status/", received.Body, StringComparison.Ordinal);

        await using var reviewer = await PortalPage.OpenAsync(browser, portal);
        await reviewer.RunAsync($"{nameof(Onboarding_ApplyApproveFirstSignIn_LandsOnHomePage)}-approve", async () =>
        {
            await SignInAcceptingTermsAsync(reviewer, staff.Username, staff.Password);
            await OpenApplicationAsync(reviewer, uid);
            await reviewer.Page.GetByTestId("approve").ClickAsync();
            // Confirm in the dialog.
            await reviewer.Page.Locator(".rz-dialog").GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
            await Expect(reviewer.Page.GetByTestId("state-badge").First).Not.ToHaveTextAsync("Waiting for review");
        });

        // The provisioning job creates the account and queues the one-time link; the dispatcher sends it.
        var credentials = await SmtpSink.WaitForAsync(m => m.IsFor(email) && m.Body.Contains("/welcome/", StringComparison.Ordinal), MailTimeout);
        var welcomePath = WelcomeLink().Match(credentials.Body).Value;

        await applicant.RunAsync($"{nameof(Onboarding_ApplyApproveFirstSignIn_LandsOnHomePage)}-first-sign-in", async () =>
        {
            var page = applicant.Page;
            await page.GotoAsync(welcomePath);
            await page.GetByTestId("reveal").ClickAsync();
            await Expect(page.GetByTestId("credential-username")).ToHaveTextAsync(uid);
            var initialPassword = (await page.GetByTestId("credential-password").TextContentAsync())!.Trim();
            Assert.DoesNotContain(initialPassword, credentials.Body, StringComparison.Ordinal);

            // The link works once.
            await page.GotoAsync(welcomePath);
            await Expect(page.GetByTestId("link-used")).ToBeVisibleAsync();

            await applicant.SignInAsync(uid, initialPassword);
            await Expect(page.GetByTestId("must-change-notice")).ToBeVisibleAsync();
            await page.GotoAsync("/");
            await Expect(page).ToHaveURLAsync(ChangePasswordUrl());

            const string newPassword = "my own long passphrase 2026";
            await page.GetByTestId("current-password").FillAsync(initialPassword);
            await page.GetByTestId("new-password").FillAsync(newPassword);
            await page.GetByTestId("repeat-password").FillAsync(newPassword);
            await page.GetByTestId("change-password-submit").ClickAsync();

            await Expect(page.GetByTestId("terms-title")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("terms-text")).ToContainTextAsync("mining");
            await page.GetByTestId("accept-terms").ClickAsync();

            await Expect(page.GetByTestId("greeting")).ToContainTextAsync("Welcome, Taro Yamada");
            await applicant.WaitUntilInteractiveAsync();
            await page.GetByTestId("toggle-details").ClickAsync();
            await Expect(page.GetByTestId("role")).ToHaveTextAsync("Student");
        });
    }

    [Fact]
    public async Task Onboarding_Rejected_ApplicantReceivesTheReason()
    {
        var uid = LdapTestUsers.UniqueUsername("rej");
        var email = $"{uid}@keio.jp";
        var staff = await StaffAsync();

        await using var applicant = await PortalPage.OpenAsync(browser, portal);
        await applicant.RunAsync($"{nameof(Onboarding_Rejected_ApplicantReceivesTheReason)}-apply", async () =>
        {
            await ApplyAsync(applicant.Page, uid, email);
            await Expect(applicant.Page.GetByTestId("apply-submitted")).ToBeVisibleAsync();
        });

        await using var reviewer = await PortalPage.OpenAsync(browser, portal);
        await reviewer.RunAsync($"{nameof(Onboarding_Rejected_ApplicantReceivesTheReason)}-reject", async () =>
        {
            await SignInAcceptingTermsAsync(reviewer, staff.Username, staff.Password);
            await OpenApplicationAsync(reviewer, uid);
            await reviewer.Page.GetByTestId("reject").ClickAsync();
            // A reason is required before anything happens.
            await reviewer.Page.GetByTestId("reject-confirm").ClickAsync();
            await Expect(reviewer.Page.GetByTestId("reject-reason-missing")).ToBeVisibleAsync();
            await reviewer.Page.GetByTestId("reject-reason").FillAsync("Accounts are for enrolled students only.");
            await reviewer.Page.GetByTestId("reject-confirm").ClickAsync();
            await Expect(reviewer.Page.GetByTestId("state-badge").First).ToHaveTextAsync("Rejected");
        });

        var rejection = await SmtpSink.WaitForAsync(m => m.IsFor(email) && m.Subject.Contains("not approved", StringComparison.Ordinal), MailTimeout);
        Assert.Contains("Accounts are for enrolled students only.", rejection.Body, StringComparison.Ordinal);

        // The status link from the first mail shows the decision and its reason too.
        var statusPath = StatusLink().Match(SmtpSink.For(email).First(m => m.Body.Contains("/apply/status/", StringComparison.Ordinal)).Body).Value;
        await applicant.Page.GotoAsync(statusPath);
        await Expect(applicant.Page.GetByTestId("status-state")).ToHaveTextAsync("Rejected");
        await Expect(applicant.Page.GetByTestId("status-reason")).ToHaveTextAsync("Accounts are for enrolled students only.");
    }

    [Fact]
    public async Task ApplicationForm_BadInputAndTakenUsername_ClearMessagesAndNothingSubmitted()
    {
        await using var applicant = await PortalPage.OpenAsync(browser, portal);
        var page = applicant.Page;
        await applicant.RunAsync(nameof(ApplicationForm_BadInputAndTakenUsername_ClearMessagesAndNothingSubmitted), async () =>
        {
            await page.GotoAsync("/apply");
            await page.GetByTestId("desired-username").PressSequentiallyAsync("admin");
            await Expect(page.GetByTestId("username-status")).ToHaveTextAsync("This username is already taken. Please choose another.");

            await page.GetByTestId("full-name").FillAsync("*)(uid=*");
            await page.GetByTestId("email").FillAsync("someone@gmail.com");
            await page.GetByTestId("apply-submit").ClickAsync();

            await Expect(page.GetByTestId("apply-errors")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("error-FullName")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("error-Email")).ToHaveTextAsync("Please use your university email address.");
            await Expect(page.GetByTestId("error-AcceptTerms")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("apply-submitted")).ToHaveCountAsync(0);
        });
    }

    private static async Task ApplyAsync(IPage page, string uid, string email)
    {
        await page.GotoAsync("/apply");
        await page.GetByTestId("full-name").FillAsync("Taro Yamada");
        await page.GetByTestId("email").FillAsync(email);
        await page.GetByTestId("affiliation-id").FillAsync("S2026001");
        await page.GetByTestId("department").FillAsync("Faculty of Science and Technology");
        await page.GetByTestId("desired-username").PressSequentiallyAsync(uid);
        await Expect(page.GetByTestId("username-status")).ToHaveTextAsync("This username is available.");
        await page.GetByTestId("purpose").FillAsync("Exercises of the deep learning course.");
        await page.GetByTestId("accept-terms").CheckAsync();
        await page.GetByTestId("apply-submit").ClickAsync();
    }

    private static async Task<(string Username, string Password)> StaffAsync()
    {
        var uid = LdapTestUsers.UniqueUsername("staff");
        LdapTestUsers.CreatePerson(uid, "Staff-password-123", groups: "portal-staff");
        return await Task.FromResult((uid, "Staff-password-123"));
    }

    private static async Task SignInAcceptingTermsAsync(PortalPage portalPage, string username, string password)
    {
        await portalPage.SignInAcceptingTermsAsync(username, password);
        await Expect(portalPage.Page.GetByTestId("greeting")).ToBeVisibleAsync();
    }

    private static async Task OpenApplicationAsync(PortalPage reviewer, string uid)
    {
        var page = reviewer.Page;
        await page.GotoAsync("/review");
        await reviewer.WaitUntilInteractiveAsync();
        var search = page.GetByTestId("review-search");
        await search.FillAsync(uid);
        await search.PressAsync("Enter");
        await Expect(page.GetByTestId("review-row")).ToHaveCountAsync(1);
        await page.GetByTestId("review-row").ClickAsync();
        await Expect(page.GetByTestId("detail-username")).ToHaveTextAsync(uid);
        await reviewer.WaitUntilInteractiveAsync();
    }

    private static Regex ChangePasswordUrl() => ChangePasswordPattern();

    [GeneratedRegex("/account/change-password")]
    private static partial Regex ChangePasswordPattern();

    [GeneratedRegex(@"/welcome/[A-Za-z0-9_-]+")]
    private static partial Regex WelcomeLink();

    [GeneratedRegex(@"/apply/status/[A-Za-z0-9_-]+")]
    private static partial Regex StatusLink();
}
