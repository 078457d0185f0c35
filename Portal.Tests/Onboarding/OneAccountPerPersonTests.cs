using Portal.Infrastructure.Jobs;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Onboarding;

/// <summary>
/// One person, one account, and no approval of a username somebody has: checked at /apply, on the review page and at
/// approval, against the portal's database and the real slapd.
/// </summary>
public sealed class OneAccountPerPersonTests : MigratedDatabaseTest
{
    private OnboardingServices _services = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new OnboardingServices(Database);
    }

    private Task<SubmitResult> SubmitAsync(string email, string? username = null) =>
        _services.Applications.SubmitAsync("Hanako Sato", email, "S7654321", "Faculty of Letters", username ?? LdapTestUsers.UniqueUsername("one"),
            "Research on language models", acceptedTerms: true, 1, "192.0.2.30", CancellationToken.None);

    private async Task AssertNothingStoredAsync()
    {
        await using var db = Database.CreateDbContext();
        Assert.Equal(0, await db.Applications.CountAsync());
        Assert.Equal(0, await db.OutboxMails.CountAsync());
    }

    [Fact]
    public async Task SubmitAsync_EmailOfAnAccountWithNewUsername_RefusedAndNothingStored()
    {
        var holder = LdapTestUsers.UniqueUsername("acc");
        await AccountRows.AddAsync(Database, holder, $"{holder}@keio.jp");

        var result = Assert.IsType<SubmitResult.Invalid>(await SubmitAsync($"{holder.ToUpperInvariant()}@keio.jp"));

        Assert.Equal([new FieldError(ApplicationForm.Fields.Email, ApplicationForm.Codes.EmailHasAccount)], result.Errors);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task SubmitAsync_EmailOfADirectoryEntryWithoutPortalAccount_Refused()
    {
        // An entry from before the portal: in LDAP only (CreatePerson gives it uid@example.org).
        var holder = LdapTestUsers.UniqueUsername("dir");
        LdapTestUsers.CreatePerson(holder, "Holder-password-1");

        var result = Assert.IsType<SubmitResult.Invalid>(await SubmitAsync($"{holder}@example.org"));

        Assert.Equal([new FieldError(ApplicationForm.Fields.Email, ApplicationForm.Codes.EmailHasAccount)], result.Errors);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task SubmitAsync_DirectoryReachable_MarkedCheckedAgainstIt()
    {
        var submitted = Assert.IsType<SubmitResult.Submitted>(await SubmitAsync($"{LdapTestUsers.UniqueUsername("ok")}@keio.jp"));

        await using var db = Database.CreateDbContext();
        Assert.True((await db.Applications.SingleAsync(a => a.Id == submitted.ApplicationId)).CheckedAgainstDirectory);
    }

    [Fact]
    public async Task CheckAsync_NothingChangedSinceSubmission_UsernameFreeNoEmailWarning()
    {
        var (id, _, _) = await _services.SubmitAsync();
        var (application, _) = await _services.Review.DetailAsync(id, CancellationToken.None);

        var check = await _services.Review.CheckAsync(application!, CancellationToken.None);

        Assert.Equal(new ApplicationCheck(UsernameStanding.Free, null, EmailCheckedInDirectory: true), check);
    }

    [Fact]
    public async Task CheckAsync_AccountWithTheEmailCreatedAfterSubmission_WarnsWithItsUsername()
    {
        var (id, _, uid) = await _services.SubmitAsync();
        var other = LdapTestUsers.UniqueUsername("late");
        await AccountRows.AddAsync(Database, other, $"{uid}@keio.jp");
        var (application, _) = await _services.Review.DetailAsync(id, CancellationToken.None);

        var check = await _services.Review.CheckAsync(application!, CancellationToken.None);

        Assert.Equal(other, check.EmailAccount);
    }

    [Fact]
    public async Task ApproveAsync_UsernameTakenInDirectoryAfterSubmission_RefusedAndNothingChanged()
    {
        var (id, _, uid) = await _services.SubmitAsync();
        LdapTestUsers.CreatePerson(uid, "Somebody-else-1");
        var (application, _) = await _services.Review.DetailAsync(id, CancellationToken.None);

        var check = await _services.Review.CheckAsync(application!, CancellationToken.None);
        var result = await _services.Review.ApproveAsync(id, Username.Parse("staff1"), "192.0.2.9", CancellationToken.None);

        Assert.Equal(UsernameStanding.Taken, check.Username);
        Assert.IsType<DecisionResult.UsernameTaken>(result);
        await using var db = Database.CreateDbContext();
        Assert.Equal(ApplicationState.Submitted, (await db.Applications.SingleAsync(a => a.Id == id)).State);
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "application.approved"));
        Assert.Equal(0, _services.Trigger.Count(JobKind.Provisioning));
    }

    [Fact]
    public async Task ApproveAsync_UsernameFree_Approved()
    {
        var (id, _, _) = await _services.SubmitAsync();

        var decided = Assert.IsType<DecisionResult.Decided>(await _services.Review.ApproveAsync(id, Username.Parse("staff1"), null, CancellationToken.None));

        Assert.Equal(ApplicationState.Approved, decided.Application.State);
        Assert.Equal(1, _services.Trigger.Count(JobKind.Provisioning));
    }
}
