using System.Text;
using Microsoft.Playwright;
using Portal.Tests.EndToEnd;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.Admin;

/// <summary>The import and announcements pages in Chromium against the running portal with its jobs.</summary>
[Collection(BrowserCollection.Name)]
public sealed class AdminPagesEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task ImportPage_UploadConfirm_RowsFollowProvisioningUntilProvisioned()
    {
        var good = LdapTestUsers.UniqueUsername("ime");
        var proposed = LdapTestUsers.UniqueUsername("ime");
        var csv = Encoding.UTF8.GetBytes("name,email,id,department,username\n" +
            $"Good Student,{good}@keio.jp,S1,Science,{good}\n" +
            $"Proposed Student,{proposed}@keio.jp,S2,Science,\n" +
            $"Bad Mail,nobody,S3,Science,{good}x\n");
        var env = TestEnvironment.Current;
        await using var admin = await PortalPage.OpenAsync(browser, portal);
        var page = admin.Page;
        await admin.RunAsync(nameof(ImportPage_UploadConfirm_RowsFollowProvisioningUntilProvisioned), async () =>
        {
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await page.GotoAsync("/admin/import");
            await admin.WaitUntilInteractiveAsync();

            // As a person would: the file is chosen once the input can take it.
            await Expect(page.GetByTestId("import-file")).ToBeEnabledAsync();
            await page.GetByTestId("import-file").SetInputFilesAsync(new FilePayload { Name = "class.csv", MimeType = "text/csv", Buffer = csv });

            await Expect(page.GetByTestId("import-batch")).ToBeVisibleAsync();
            await Expect(page.Locator("[data-testid=import-row-status][data-row='2']")).ToHaveAttributeAsync("data-status", "Ready");
            await Expect(page.Locator("[data-testid=import-row-status][data-row='4']")).ToHaveAttributeAsync("data-status", "Invalid");
            await Expect(page.Locator("[data-testid=import-row-problems][data-row='4']")).ToContainTextAsync("email");
            await Expect(page.GetByTestId("import-rows")).ToContainTextAsync(proposed);

            await page.GetByTestId("import-confirm").ClickAsync();
            await page.Locator(".rz-dialog").GetByRole(AriaRole.Button, new() { Name = "Create accounts" }).ClickAsync();

            // The provisioning job runs in the portal; the page follows it by itself.
            await Expect(page.GetByTestId("import-batch")).ToHaveAttributeAsync("data-confirmed", "true");
            foreach (var row in new[] { "2", "3" })
            {
                await Expect(page.Locator($"[data-testid=import-row-status][data-row='{row}']"))
                    .ToHaveAttributeAsync("data-status", "Provisioned", new() { Timeout = 60_000 });
            }
        });
        Assert.Single(LdapTestUsers.Directory().FindDistinguishedNames(good));
        Assert.Single(LdapTestUsers.Directory().FindDistinguishedNames(proposed));
    }

    [Fact]
    public async Task AnnouncementsPage_CreateAndMaintenance_StudentSeesBannerAndCannotStart()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var env = TestEnvironment.Current;
        var student = LdapTestUsers.UniqueUsername("ane");
        LdapTestUsers.CreatePerson(student, "Student-password-1");
        await using var admin = await PortalPage.OpenAsync(browser, portal);
        var page = admin.Page;
        await admin.RunAsync(nameof(AnnouncementsPage_CreateAndMaintenance_StudentSeesBannerAndCannotStart), async () =>
        {
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await page.GotoAsync("/admin/announcements");
            await admin.WaitUntilInteractiveAsync();
            await page.GetByTestId("announcement-en").FillAsync($"Reading week {tag}");
            await page.GetByTestId("announcement-ja").FillAsync($"読書週間 {tag}");
            await page.GetByTestId("announcement-save").ClickAsync();
            await Expect(page.GetByTestId("announcements-grid")).ToContainTextAsync($"Reading week {tag}");

            await page.GetByTestId("maintenance-en").FillAsync($"Upgrading {tag}");
            await page.GetByTestId("maintenance-ja").FillAsync($"更新中 {tag}");
            await page.GetByTestId("maintenance-on").ClickAsync();
            await page.Locator(".rz-dialog").GetByRole(AriaRole.Button, new() { Name = "Turn maintenance on" }).ClickAsync();
            await Expect(page.GetByTestId("maintenance-card")).ToHaveAttributeAsync("data-enabled", "true");
        });

        await using var person = await PortalPage.OpenAsync(browser, portal);
        try
        {
            await person.RunAsync($"{nameof(AnnouncementsPage_CreateAndMaintenance_StudentSeesBannerAndCannotStart)}-student", async () =>
            {
                await person.SignInAcceptingTermsAsync(student, "Student-password-1");
                await person.Page.GotoAsync("/server");
                await person.WaitUntilInteractiveAsync();
                await Expect(person.Page.GetByTestId("announcement")).ToContainTextAsync($"Reading week {tag}");
                await Expect(person.Page.GetByTestId("maintenance-banner")).ToContainTextAsync($"Upgrading {tag}");
                await Expect(person.Page.GetByTestId("server-maintenance")).ToBeVisibleAsync();
                await Expect(person.Page.GetByTestId("server-start")).ToBeDisabledAsync();
            });
        }
        finally
        {
            await page.GetByTestId("maintenance-off").ClickAsync();
            await page.Locator(".rz-dialog").GetByRole(AriaRole.Button, new() { Name = "Turn maintenance off" }).ClickAsync();
            await Expect(page.GetByTestId("maintenance-card")).ToHaveAttributeAsync("data-enabled", "false");
        }
    }
}
