using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Tests.EndToEnd;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.Admin;

/// <summary>
/// The quota editor in headless Chromium: what the admin types is what is judged (no silent clamping), and a limit no
/// server could ever get is refused with a message. The portal's test inventory has four GPUs.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class QuotaEditorEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task SaveQuota_NegativeMemoryThenTooManyGpus_RefusedWithMessagesNothingSavedThenValidSaved()
    {
        var uid = LdapTestUsers.UniqueUsername("quo");
        LdapTestUsers.CreatePerson(uid, "Quota-password-1");
        await AccountRows.AddAsync(portal.Database, uid, $"{uid}@example.org");
        var env = TestEnvironment.Current;

        await using var adminPage = await PortalPage.OpenAsync(browser, portal);
        var page = adminPage.Page;
        await adminPage.RunAsync(nameof(SaveQuota_NegativeMemoryThenTooManyGpus_RefusedWithMessagesNothingSavedThenValidSaved), async () =>
        {
            await adminPage.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            await page.GotoAsync($"/admin/users/{uid}");
            await adminPage.WaitUntilInteractiveAsync();

            await page.GetByTestId("quota-memory").Locator("input").FillAsync("-5");
            await page.GetByTestId("quota-memory").Locator("input").PressAsync("Tab");
            await page.GetByTestId("quota-save").ClickAsync();
            await Expect(page.GetByTestId("user-message")).ToContainTextAsync("The quota was not saved: memory must be at least 1 GiB.");
            await Expect(page.GetByTestId("quota-memory").Locator("input")).ToHaveValueAsync("-5");
            Assert.Null(await OverrideAsync(uid));

            await page.GetByTestId("quota-memory").Locator("input").FillAsync("8");
            await page.GetByTestId("quota-gpus").Locator("input").FillAsync("9");
            await page.GetByTestId("quota-gpus").Locator("input").PressAsync("Tab");
            await page.GetByTestId("quota-save").ClickAsync();
            await Expect(page.GetByTestId("user-message")).ToContainTextAsync(
                "The quota was not saved: at most 4 GPUs can be given to one server (the most the GPU inventory has); with more the server would never start.");
            Assert.Null(await OverrideAsync(uid));

            await page.GetByTestId("quota-gpus").Locator("input").FillAsync("4");
            await page.GetByTestId("quota-gpus").Locator("input").PressAsync("Tab");
            await page.GetByTestId("quota-save").ClickAsync();
            await Expect(page.GetByTestId("quota-effective")).ToContainTextAsync("8 GiB");
            await Expect(page.GetByTestId("quota-effective")).ToContainTextAsync("4 GPU");
        });

        var saved = await OverrideAsync(uid);
        Assert.Equal((8, 4), (saved?.MemoryGiB, saved?.GpuCount));
    }

    private async Task<Portal.Domain.Servers.QuotaOverride?> OverrideAsync(string uid)
    {
        await using var db = portal.Database.CreateDbContext();
        return await db.QuotaOverrides.AsNoTracking().SingleOrDefaultAsync(q => q.Username == Username.Parse(uid));
    }
}
