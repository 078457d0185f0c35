using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Tests.Support;

namespace Portal.Tests.Onboarding;

/// <summary>Applying, looking up, withdrawing and reviewing, on the real database and slapd.</summary>
public sealed class ApplicationServiceTests : MigratedDatabaseTest
{
    private OnboardingServices _services = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new OnboardingServices(Database);
    }

    private async Task<SubmitResult> SubmitAsync(string? fullName = "Hanako Sato", string? email = null, string? affiliationId = "S7654321",
        string? department = "Faculty of Letters", string? username = null, string? purpose = "Research on language models", bool accept = true, int? terms = 1)
    {
        var uid = username ?? LdapTestUsers.UniqueUsername("ap");
        var address = email ?? (Username.TryParse(uid, out _) ? $"{uid}@keio.jp" : $"{LdapTestUsers.UniqueUsername("mail")}@keio.jp");
        return await _services.Applications.SubmitAsync(fullName, address, affiliationId, department, uid, purpose, accept, terms,
            "192.0.2.30", CancellationToken.None);
    }

    private async Task AssertNothingStoredAsync()
    {
        await using var db = Database.CreateDbContext();
        Assert.Equal(0, await db.Applications.CountAsync());
        Assert.Equal(0, await db.OutboxMails.CountAsync());
        Assert.Equal(0, await db.AuditEvents.CountAsync(e => e.Action == "application.submitted"));
    }

    [Fact]
    public async Task SubmitAsync_ValidForm_StoresApplicationMailsApplicantAndStaffAndAudits()
    {
        var result = Assert.IsType<SubmitResult.Submitted>(await SubmitAsync());

        await using var db = Database.CreateDbContext();
        var application = await db.Applications.SingleAsync();
        Assert.Equal(result.ApplicationId, application.Id);
        Assert.Equal(ApplicationState.Submitted, application.State);
        Assert.Equal(SecretTokens.Hash(result.StatusToken), application.StatusTokenHash);
        var mails = await db.OutboxMails.OrderBy(m => m.Id).ToListAsync();
        Assert.Equal([application.Email.Value, "review-desk@example.org"], mails.Select(m => m.Recipient));
        Assert.Contains($"http://portal.test/apply/status/{result.StatusToken}", mails[0].Body, StringComparison.Ordinal);
        Assert.DoesNotContain(result.StatusToken, mails[1].Body, StringComparison.Ordinal);
        var audit = await db.AuditEvents.SingleAsync(e => e.Action == "application.submitted");
        Assert.Equal("192.0.2.30", audit.SourceAddress);
    }

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "fullName", new string('x', 60_000) },
        { "fullName", "Hanako\u0000Sato" },
        { "fullName", "*)(uid=*" },
        { "email", "hanako@gmail.com" },
        { "email", "hanako@keio.jp\r\nBcc: all@keio.jp" },
        { "affiliationId", "S76)(54321" },
        { "department", "Letters\u001b" },
        { "username", "Hanako" },
        { "username", "admin)(|(uid=*" },
        { "purpose", new string('p', 60_000) },
        { "purpose", "" },
        { "purpose", "Research on\r\nlanguage models\u0000" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task SubmitAsync_BadField_ClearErrorAndNothingStored(string field, string value)
    {
        var result = field switch
        {
            "fullName" => await SubmitAsync(fullName: value),
            "email" => await SubmitAsync(email: value),
            "affiliationId" => await SubmitAsync(affiliationId: value),
            "department" => await SubmitAsync(department: value),
            "username" => await SubmitAsync(username: value),
            "purpose" => await SubmitAsync(purpose: value),
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };

        var invalid = Assert.IsType<SubmitResult.Invalid>(result);
        Assert.Single(invalid.Errors);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task SubmitAsync_UsernameOfExistingLdapUser_RefusedAsTaken()
    {
        var result = Assert.IsType<SubmitResult.Invalid>(await SubmitAsync(username: "admin", email: "someone@keio.jp"));

        Assert.Equal(new FieldError(ApplicationForm.Fields.DesiredUsername, ApplicationForm.Codes.UsernameTaken), Assert.Single(result.Errors));
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task SubmitAsync_SecondOpenApplicationSameUsernameOrEmail_Refused()
    {
        var uid = LdapTestUsers.UniqueUsername("dup");
        Assert.IsType<SubmitResult.Submitted>(await SubmitAsync(username: uid));

        var sameUsername = Assert.IsType<SubmitResult.Invalid>(await SubmitAsync(username: uid, email: $"other-{uid}@keio.jp"));
        var sameEmail = Assert.IsType<SubmitResult.Invalid>(await SubmitAsync(email: $"{uid}@keio.jp"));

        Assert.Equal(ApplicationForm.Codes.UsernameTaken, Assert.Single(sameUsername.Errors).Code);
        Assert.Equal(ApplicationForm.Codes.OpenApplicationExists, Assert.Single(sameEmail.Errors).Code);
        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.Applications.CountAsync());
    }

    [Fact]
    public async Task SubmitAsync_TwentyAtOnceSameUsername_ExactlyOneStored()
    {
        var uid = LdapTestUsers.UniqueUsername("race");

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => SubmitAsync(username: uid, email: $"{uid}.{i}@keio.jp"))));

        Assert.Single(results.OfType<SubmitResult.Submitted>());
        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.Applications.CountAsync());
    }

    [Fact]
    public async Task SubmitAsync_TermsChangedWhileFormOpen_Refused()
    {
        await _services.Terms.PublishAsync(Username.Parse("admin"), "New terms", "新しい規約", null, CancellationToken.None);

        var result = Assert.IsType<SubmitResult.Invalid>(await SubmitAsync(terms: 1));

        Assert.Equal(ApplicationForm.Codes.TermsNotAccepted, Assert.Single(result.Errors).Code);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task CheckUsernameAsync_FormatDatabaseAndLdap_AllConsulted()
    {
        var (_, _, pending) = await _services.SubmitAsync();

        Assert.Equal(UsernameAvailability.Invalid, await _services.Applications.CheckUsernameAsync("*", CancellationToken.None));
        Assert.Equal(UsernameAvailability.Taken, await _services.Applications.CheckUsernameAsync("admin", CancellationToken.None));
        Assert.Equal(UsernameAvailability.Taken, await _services.Applications.CheckUsernameAsync(pending, CancellationToken.None));
        Assert.Equal(UsernameAvailability.Available, await _services.Applications.CheckUsernameAsync(LdapTestUsers.UniqueUsername("free"), CancellationToken.None));
    }

    [Fact]
    public async Task WithdrawAsync_WithStatusToken_WithdrawsOnceAndFreesTheUsername()
    {
        var (id, token, uid) = await _services.SubmitAsync();

        Assert.Equal(WithdrawResult.NotFound, await _services.Applications.WithdrawAsync("wrong-token", null, CancellationToken.None));
        Assert.Equal(WithdrawResult.Withdrawn, await _services.Applications.WithdrawAsync(token, null, CancellationToken.None));
        Assert.Equal(WithdrawResult.AlreadyDecided, await _services.Applications.WithdrawAsync(token, null, CancellationToken.None));

        Assert.Equal(ApplicationState.Withdrawn, (await _services.Applications.FindByStatusTokenAsync(token, CancellationToken.None))!.State);
        Assert.Equal(UsernameAvailability.Available, await _services.Applications.CheckUsernameAsync(uid, CancellationToken.None));
        Assert.IsType<DecisionResult.AlreadyDecided>(await _services.Review.ApproveAsync(id, Username.Parse("staff1"), null, CancellationToken.None));
    }

    [Fact]
    public async Task RejectAsync_WithReason_MailsTheReasonAndRecordsReviewer()
    {
        var (id, token, _) = await _services.SubmitAsync();

        var decided = Assert.IsType<DecisionResult.Decided>(
            await _services.Review.RejectAsync(id, Username.Parse("staff2"), "Please apply with your student address.", "192.0.2.9", CancellationToken.None));

        Assert.Equal(ApplicationState.Rejected, decided.Application.State);
        await using var db = Database.CreateDbContext();
        var mail = await db.OutboxMails.SingleAsync(m => m.DeduplicationKey == $"rejected:{id}");
        Assert.Contains("Please apply with your student address.", mail.Body, StringComparison.Ordinal);
        var audit = await db.AuditEvents.SingleAsync(e => e.Action == "application.rejected");
        Assert.Equal("staff2", audit.Actor);
        Assert.Equal("Please apply with your student address.", (await _services.Applications.FindByStatusTokenAsync(token, CancellationToken.None))!.RejectionReason);
    }

    [Fact]
    public async Task RejectAsync_EmptyReason_ThrowsAndChangesNothing()
    {
        var (id, _, _) = await _services.SubmitAsync();

        await Assert.ThrowsAsync<InvalidValueException>(() => _services.Review.RejectAsync(id, Username.Parse("staff2"), "  ", null, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        Assert.Equal(ApplicationState.Submitted, (await db.Applications.SingleAsync()).State);
        Assert.False(await db.OutboxMails.AnyAsync(m => m.DeduplicationKey.StartsWith("rejected:")));
    }

    [Fact]
    public async Task RejectAsync_NulInReason_ThrowsAndChangesNothing()
    {
        var (id, token, _) = await _services.SubmitAsync();

        var error = await Assert.ThrowsAsync<InvalidValueException>(() =>
            _services.Review.RejectAsync(id, Username.Parse("staff2"), "Please apply\r\nwith your student address.\u0000", null, CancellationToken.None));

        Assert.Equal(ControlCharacters.Message("reason"), error.Message);
        Assert.True(error.HasControlCharacters);
        await using var db = Database.CreateDbContext();
        var application = await db.Applications.SingleAsync();
        Assert.Equal((ApplicationState.Submitted, null), (application.State, application.RejectionReason));
        Assert.False(await db.OutboxMails.AnyAsync(m => m.DeduplicationKey.StartsWith("rejected:")));
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "application.rejected"));
    }

    [Theory]
    [InlineData("\u0000")]
    [InlineData("ab\u0000")]
    [InlineData("admin\u0000")]
    public async Task CheckUsernameAsync_Nul_InvalidWithoutAskingDatabaseOrDirectory(string name)
    {
        // Neither the database nor the directory may be asked: both throw if they are.
        var applications = new ApplicationService(new UnusedContexts(), DispatchProxy.Create<IDirectoryProvisioning, UnusedDirectory>(),
            _services.Terms, _services.Trigger, _services.Options, TimeProvider.System);

        Assert.Equal(UsernameAvailability.Invalid, await applications.CheckUsernameAsync(name, CancellationToken.None));
    }

    private sealed class UnusedContexts : IDbContextFactory<PortalDbContext>
    {
        public PortalDbContext CreateDbContext() => throw new InvalidOperationException("The database was asked.");
    }

    public class UnusedDirectory : DispatchProxy
    {
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            throw new InvalidOperationException($"The directory was asked ({targetMethod?.Name}).");
    }

    [Fact]
    public async Task PageAsync_FiltersSearchSortAndPaging_AppliedInDatabase()
    {
        for (var i = 0; i < 30; i++)
        {
            var uid = LdapTestUsers.UniqueUsername($"pg{i:D2}");
            Assert.IsType<SubmitResult.Submitted>(await SubmitAsync(username: uid, department: i % 3 == 0 ? "Medicine" : "Letters",
                fullName: $"Person {i:D2}"));
        }
        var (first, _, _) = await _services.SubmitAsync();
        await _services.Review.ApproveAsync(first, Username.Parse("staff1"), null, CancellationToken.None);

        var (medicine, medicineTotal) = await _services.Review.PageAsync(new ReviewQuery(ApplicationState.Submitted, "Medicine", Limit: 5), CancellationToken.None);
        var (byName, _) = await _services.Review.PageAsync(new ReviewQuery(Search: "person 0", SortBy: "FullName", Descending: false), CancellationToken.None);
        var (approved, approvedTotal) = await _services.Review.PageAsync(new ReviewQuery(ApplicationState.Approved), CancellationToken.None);
        var (wildcard, wildcardTotal) = await _services.Review.PageAsync(new ReviewQuery(Search: "%"), CancellationToken.None);

        Assert.Equal(10, medicineTotal);
        Assert.Equal(5, medicine.Count);
        Assert.All(medicine, a => Assert.Equal("Medicine", a.Department));
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => $"Person {i:D2}")], byName.Select(a => a.FullName));
        Assert.Equal(1, approvedTotal);
        Assert.Equal(first, Assert.Single(approved).Id);
        Assert.Equal(0, wildcardTotal);
        Assert.Empty(wildcard);
    }
}
