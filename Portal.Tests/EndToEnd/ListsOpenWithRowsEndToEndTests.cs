using Microsoft.Extensions.DependencyInjection;
using Portal.Domain.Api;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Terms;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>
/// Every admin list shows its first page as soon as it is opened, before anyone types a filter: the applications, users,
/// audit log, terms acceptances and API tokens, each with rows in the database.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ListsOpenWithRowsEndToEndTests(BrowserFixture browser, KestrelPortal portal) : IClassFixture<KestrelPortal>
{
    [Fact]
    public async Task AdminLists_OpenedWithoutAFilter_ShowTheirFirstRows()
    {
        var env = TestEnvironment.Current;
        var applicant = LdapTestUsers.UniqueUsername("lfp");
        var terms = await portal.Services.GetRequiredService<TermsService>().CurrentAsync(CancellationToken.None);
        var submitted = await portal.Services.GetRequiredService<ApplicationService>().SubmitAsync("Ichiro Suzuki", $"{applicant}@keio.jp",
            "S7777777", "Faculty of Science", applicant, "Coursework", acceptedTerms: true, terms.Version, "192.0.2.70", CancellationToken.None);
        Assert.IsType<SubmitResult.Submitted>(submitted);

        await using var admin = await PortalPage.OpenAsync(browser, portal);
        var page = admin.Page;
        await admin.RunAsync(nameof(AdminLists_OpenedWithoutAFilter_ShowTheirFirstRows), async () =>
        {
            // Signing in makes the admin's account row, a terms acceptance and audit events.
            await admin.SignInAcceptingTermsAsync(env.AdminUsername, env.AdminPassword);
            var issued = await portal.Services.GetRequiredService<AccessTokenService>().IssueAsync(env.AdminUsername, "first page token",
                ApiScopes.UsersRead, DateTimeOffset.UtcNow.AddDays(7), new AuditActor(env.AdminUsername, null), CancellationToken.None);
            Assert.IsType<IssueResult.Issued>(issued);

            foreach (var (path, grid, text) in new[]
            {
                ("/review", "review-grid", "Ichiro Suzuki"),
                ("/admin/users", "users-grid", env.AdminUsername),
                ("/admin/audit", "audit-grid", env.AdminUsername),
                ("/admin/terms", "acceptances", env.AdminUsername),
                ("/admin/tokens", "tokens", "first page token"),
            })
            {
                await page.GotoAsync(path);
                await admin.WaitUntilInteractiveAsync();
                await Expect(page.GetByTestId(grid)).ToContainTextAsync(text);
            }
        });
    }
}
