using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.EndToEnd;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.Onboarding;

/// <summary>
/// The review page in headless Chromium against the real slapd: it checks the application when it opens, warns of an
/// account with the same email, and refuses to approve a username somebody got in the directory meanwhile.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ReviewDirectoryCheckEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task ReviewPage_UsernameTakenAndEmailOfAnAccountSinceSubmission_ShownAndApprovalRefused()
    {
        var uid = LdapTestUsers.UniqueUsername("rvw");
        var submitted = Assert.IsType<SubmitResult.Submitted>(await portal.Services.GetRequiredService<ApplicationService>().SubmitAsync(
            "Taro Yamada", $"{uid}@keio.jp", "S2026001", "Faculty of Science", uid, "Coursework", acceptedTerms: true, 1, "192.0.2.50", CancellationToken.None));
        // After submission: somebody gets the username in the directory, and an account is made with the email.
        LdapTestUsers.CreatePerson(uid, "Somebody-else-1");
        var holder = LdapTestUsers.UniqueUsername("hld");
        await AccountRows.AddAsync(portal.Database, holder, $"{uid}@keio.jp");
        var staff = LdapTestUsers.UniqueUsername("staff");
        LdapTestUsers.CreatePerson(staff, "Staff-password-123", groups: "portal-staff");

        await using var reviewer = await PortalPage.OpenAsync(browser, portal);
        var page = reviewer.Page;
        await reviewer.RunAsync(nameof(ReviewPage_UsernameTakenAndEmailOfAnAccountSinceSubmission_ShownAndApprovalRefused), async () =>
        {
            await reviewer.SignInAcceptingTermsAsync(staff, "Staff-password-123");
            await page.GotoAsync($"/review/{submitted.ApplicationId}");
            await reviewer.WaitUntilInteractiveAsync();
            await Expect(page.GetByTestId("username-check")).ToContainTextAsync($"Username {uid}: already taken in the directory");
            await Expect(page.GetByTestId("email-has-account")).ToContainTextAsync($"The email address {uid}@keio.jp already belongs to the account {holder}");
            await Expect(page.GetByTestId("not-checked-at-submission")).ToHaveCountAsync(0);

            await page.GetByTestId("approve").ClickAsync();
            await page.Locator(".rz-dialog").GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();

            await Expect(page.GetByTestId("decision-message")).ToContainTextAsync(
                $"Not approved: the username {uid} is already taken in the directory (an account or directory entry has it). Nothing was changed.");
            await Expect(page.GetByTestId("state-badge").First).ToHaveTextAsync("Waiting for review");
        });

        await using var db = portal.Database.CreateDbContext();
        Assert.Equal(ApplicationState.Submitted, (await db.Applications.AsNoTracking().SingleAsync(a => a.Id == submitted.ApplicationId)).State);
    }
}
