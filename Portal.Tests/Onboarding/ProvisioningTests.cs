using System.DirectoryServices.Protocols;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Onboarding;

/// <summary>Provisioning against the real PostgreSQL and slapd: what it creates, and that it converges.</summary>
public sealed class ProvisioningTests : MigratedDatabaseTest
{
    private OnboardingServices _services = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await OnboardingServices.UseOwnUidBlockAsync(Database);
        _services = new OnboardingServices(Database);
    }

    /// <summary>
    /// What the provisioning sweep's jobs do between them, here one after another: every due application provisioned;
    /// how many it finished.
    /// </summary>
    private static async Task<int> ProvisionDueAsync(ProvisioningService provisioning)
    {
        var done = 0;
        foreach (var id in await provisioning.DueAsync(CancellationToken.None))
        {
            if (await provisioning.ProvisionAsync(id, CancellationToken.None) == ProvisioningOutcome.Provisioned)
            {
                done++;
            }
        }
        return done;
    }

    [Fact]
    public async Task ProvisionAsync_ApprovedApplication_CreatesExactlyTheExpectedEntry()
    {
        var (id, uid) = await _services.ApprovedAsync();

        var outcome = await _services.Provisioning.ProvisionAsync(id, CancellationToken.None);

        await using var db = Database.CreateDbContext();
        var application = await db.Applications.SingleAsync(a => a.Id == id);
        Assert.True(outcome == ProvisioningOutcome.Provisioned, $"{outcome}: {application.LastProvisioningError}");
        Assert.Equal(ApplicationState.Provisioned, application.State);
        var entry = LdapEntry(uid);
        Assert.Equal(["inetOrgPerson", "posixAccount", "shadowAccount"], Values(entry, "objectClass").Where(c => c != "top").Order());
        Assert.Equal(uid, Values(entry, "uid").Single());
        Assert.Equal("Taro Yamada", Values(entry, "cn").Single());
        Assert.Equal($"{uid}@keio.jp", Values(entry, "mail").Single());
        Assert.Equal(application.UidNumber.ToString(), Values(entry, "uidNumber").Single());
        Assert.Equal("10000", Values(entry, "gidNumber").Single());
        Assert.Equal($"/home/{uid}", Values(entry, "homeDirectory").Single());
        Assert.Equal("/bin/bash", Values(entry, "loginShell").Single());
        Assert.Equal("TRUE", Values(entry, "pwdReset").Single());
        Assert.Contains(uid, StudentsGroupMembers());

        var account = await db.Accounts.SingleAsync(a => a.Username == Username.Parse(uid));
        Assert.True(account.MustChangePassword);
        Assert.Equal(application.UidNumber, account.UidNumber);
        var mail = await db.OutboxMails.SingleAsync(m => m.DeduplicationKey == $"credentials:{id}");
        Assert.Equal($"{uid}@keio.jp", mail.Recipient);
        Assert.Contains("http://portal.test/welcome/", mail.Body, StringComparison.Ordinal);

        // The password behind the link is the one LDAP has, and it is not in the mail.
        var token = mail.Body.Split("/welcome/")[1].Split(['\n', '\r', ' '])[0];
        var revealed = Assert.IsType<RevealResult.Revealed>(await _services.Credentials.RevealAsync(token, null, CancellationToken.None));
        Assert.False(revealed.IsReset);
        Assert.DoesNotContain(revealed.Password, mail.Body, StringComparison.Ordinal);
        var signIn = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), revealed.Password, CancellationToken.None);
        Assert.True(Assert.IsType<DirectoryAuthentication.Succeeded>(signIn).User.MustChangePassword);
        Assert.Null((await db.CredentialLinks.AsNoTracking().SingleAsync(l => l.ApplicationId == id)).ProtectedPassword);
    }

    [Fact]
    public async Task Approve_FiftyReviewersAtOnce_OneDecisionOneEntryOneUidNumberOneMail()
    {
        var (id, _, uid) = await _services.SubmitAsync();
        var reviewers = Enumerable.Range(0, 50).Select(i => Username.Parse($"staff{i}")).ToList();

        var decisions = await Task.WhenAll(reviewers.Select(r => Task.Run(() => _services.Review.ApproveAsync(id, r, null, CancellationToken.None))));
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => _services.Provisioning.ProvisionAsync(id, CancellationToken.None))));
        // Whichever runs were Busy left the work to the one holding the lock; a last run confirms there is nothing left.
        Assert.Equal(ProvisioningOutcome.NothingToDo, await _services.Provisioning.ProvisionAsync(id, CancellationToken.None));

        var winner = Assert.Single(decisions.OfType<DecisionResult.Decided>());
        var losers = decisions.OfType<DecisionResult.AlreadyDecided>().ToList();
        Assert.Equal(49, losers.Count);
        Assert.All(losers, l => Assert.Equal(winner.Application.DecidedBy!.Value, l.DecidedBy));
        Assert.Equal(1, outcomes.Count(o => o == ProvisioningOutcome.Provisioned));
        Assert.DoesNotContain(ProvisioningOutcome.Failed, outcomes);
        Assert.Single(LdapTestUsers.Directory().FindDistinguishedNames(uid));
        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.OutboxMails.CountAsync(m => m.DeduplicationKey.StartsWith("credentials:")));
        Assert.Equal(1, await db.Applications.CountAsync(a => a.UidNumber != null));
        Assert.Equal(1, await db.AuditEvents.CountAsync(e => e.Action == "application.approved"));
    }

    [Fact]
    public async Task ProvisionAsync_TwoHundredApplicationsByThreeSweepsAtOnce_TwoHundredDistinctUidNumbers()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 200; i++)
        {
            ids.Add((await _services.ApprovedAsync()).Id);
        }

        // Two sweeps at once, as two portal nodes would run them.
        var done = await Task.WhenAll(
            Task.Run(() => ProvisionDueAsync(_services.Provisioning)),
            Task.Run(() => ProvisionDueAsync(_services.Provisioning)));
        await ProvisionDueAsync(_services.Provisioning);
        // A transient failure on a loaded CI machine is retried by the job after its backoff; ask for that retry now.
        await using (var check = Database.CreateDbContext())
        {
            foreach (var failed in await check.Applications.Where(a => a.State == ApplicationState.ProvisioningFailed).Select(a => a.Id).ToListAsync())
            {
                await _services.Review.RetryProvisioningAsync(failed, Username.Parse("admin"), null, CancellationToken.None);
            }
        }
        await ProvisionDueAsync(_services.Provisioning);

        await using var db = Database.CreateDbContext();
        var applications = await db.Applications.Where(a => ids.Contains(a.Id)).ToListAsync();
        Assert.All(applications, a => Assert.True(a.State == ApplicationState.Provisioned, $"{a.State}: {a.LastProvisioningError}"));
        Assert.Equal(200, applications.Select(a => a.UidNumber).Distinct().Count());
        Assert.True(done.Sum() <= 200);
        Assert.Equal(200, await db.OutboxMails.CountAsync(m => m.DeduplicationKey.StartsWith("credentials:")));
    }

    public static TheoryData<ProvisioningStep> StepsBeforeTheEnd() =>
        [.. Enum.GetValues<ProvisioningStep>().Where(s => s != ProvisioningStep.Completed)];

    [Theory]
    [MemberData(nameof(StepsBeforeTheEnd))]
    public async Task ProvisionAsync_StoppedAfterStep_RerunFinishesWithOneEntryAndOneMail(ProvisioningStep step)
    {
        var (id, uid) = await _services.ApprovedAsync();
        // Stop the run right after the step, the way a node shutting down cancels its jobs.
        _services.Provisioning.AfterStep = (done, _, _) =>
            done == step ? Task.FromException(new OperationCanceledException("node stopped")) : Task.CompletedTask;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _services.Provisioning.ProvisionAsync(id, CancellationToken.None));
        await using (var db = Database.CreateDbContext())
        {
            Assert.Equal(ApplicationState.Approved, (await db.Applications.SingleAsync(a => a.Id == id)).State);
        }

        _services.Provisioning.AfterStep = null;
        Assert.Equal(ProvisioningOutcome.Provisioned, await _services.Provisioning.ProvisionAsync(id, CancellationToken.None));

        await using var after = Database.CreateDbContext();
        var application = await after.Applications.SingleAsync(a => a.Id == id);
        Assert.Equal(ApplicationState.Provisioned, application.State);
        Assert.Single(LdapTestUsers.Directory().FindDistinguishedNames(uid));
        Assert.Equal(application.UidNumber.ToString(), Values(LdapEntry(uid), "uidNumber").Single());
        var mail = await after.OutboxMails.SingleAsync(m => m.DeduplicationKey == $"credentials:{id}");
        var token = mail.Body.Split("/welcome/")[1].Split(['\n', '\r', ' '])[0];
        var revealed = Assert.IsType<RevealResult.Revealed>(await _services.Credentials.RevealAsync(token, null, CancellationToken.None));
        Assert.IsType<DirectoryAuthentication.Succeeded>(
            await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), revealed.Password, CancellationToken.None));
        Assert.Equal(1, await after.Accounts.CountAsync(a => a.Username == Username.Parse(uid)));
    }

    [Fact]
    public async Task ProvisionAsync_LdapDown_RecordsFailureAndConvergesOnceBack()
    {
        var (id, uid) = await _services.ApprovedAsync();
        var down = new OnboardingServices(Database, ldapPort: 1);

        Assert.Equal(ProvisioningOutcome.Failed, await down.Provisioning.ProvisionAsync(id, CancellationToken.None));
        Assert.Equal(ProvisioningOutcome.Failed, await down.Provisioning.ProvisionAsync(id, CancellationToken.None));

        await using (var db = Database.CreateDbContext())
        {
            var failed = await db.Applications.SingleAsync(a => a.Id == id);
            Assert.Equal(ApplicationState.ProvisioningFailed, failed.State);
            Assert.Equal(2, failed.ProvisioningAttempts);
            Assert.Contains("LDAP", failed.LastProvisioningError, StringComparison.Ordinal);
            Assert.True(failed.NextProvisioningAttemptAt > DateTimeOffset.UtcNow);
            // Not due yet: the sweep leaves it alone until the backoff has passed.
            Assert.Equal(0, await ProvisionDueAsync(_services.Provisioning));
        }

        Assert.True(await _services.Review.RetryProvisioningAsync(id, Username.Parse("admin"), null, CancellationToken.None));
        Assert.Equal(1, await ProvisionDueAsync(_services.Provisioning));

        await using var after = Database.CreateDbContext();
        Assert.Equal(ApplicationState.Provisioned, (await after.Applications.SingleAsync(a => a.Id == id)).State);
        Assert.Single(LdapTestUsers.Directory().FindDistinguishedNames(uid));
        Assert.Equal(2, await after.AuditEvents.CountAsync(e => e.Action == "application.provisioning-failed"));
    }

    [Fact]
    public async Task ProvisionAsync_UsernameTakenInLdapBySomeoneElse_FailsWithConflictAndCreatesNothing()
    {
        var (id, _, uid) = await _services.SubmitAsync();
        await _services.Review.ApproveAsync(id, Username.Parse("staff1"), null, CancellationToken.None);
        LdapTestUsers.CreatePerson(uid, "Someone-elses-password-1");

        Assert.Equal(ProvisioningOutcome.Failed, await _services.Provisioning.ProvisionAsync(id, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        var application = await db.Applications.SingleAsync(a => a.Id == id);
        Assert.Equal(ApplicationState.ProvisioningFailed, application.State);
        Assert.Contains("DirectoryConflictException", application.LastProvisioningError, StringComparison.Ordinal);
        Assert.False(await db.CredentialLinks.AnyAsync(l => l.ApplicationId == id));
        Assert.False(await db.OutboxMails.AnyAsync(m => m.DeduplicationKey == $"credentials:{id}"));
    }

    [Fact]
    public async Task RevealAsync_SecondTimeOrExpired_ShowsNothing()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var services = new OnboardingServices(Database, clock: clock);
        var first = await services.ApprovedAsync();
        var second = await services.ApprovedAsync();
        await ProvisionDueAsync(services.Provisioning);
        await using var db = Database.CreateDbContext();
        string TokenOf(Guid id) => db.OutboxMails.Single(m => m.DeduplicationKey == $"credentials:{id}").Body.Split("/welcome/")[1].Split(['\n', '\r', ' '])[0];

        Assert.IsType<RevealResult.Revealed>(await services.Credentials.RevealAsync(TokenOf(first.Id), null, CancellationToken.None));
        Assert.IsType<RevealResult.AlreadyUsed>(await services.Credentials.RevealAsync(TokenOf(first.Id), null, CancellationToken.None));
        clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        Assert.IsType<RevealResult.Expired>(await services.Credentials.RevealAsync(TokenOf(second.Id), null, CancellationToken.None));
        Assert.IsType<RevealResult.NotFound>(await services.Credentials.RevealAsync("not-a-token", null, CancellationToken.None));
    }

    private static SearchResultEntry LdapEntry(string uid)
    {
        var env = TestEnvironment.Current;
        using var connection = LdapTestUsers.BindAs(env.LdapServiceDn, env.LdapServicePassword);
        var response = (SearchResponse)connection.SendRequest(new SearchRequest(LdapTestUsers.PersonDn(uid), "(objectClass=*)", SearchScope.Base,
            "objectClass", "uid", "cn", "mail", "uidNumber", "gidNumber", "homeDirectory", "loginShell", "pwdReset"));
        return response.Entries[0];
    }

    private static List<string> StudentsGroupMembers()
    {
        var env = TestEnvironment.Current;
        using var connection = LdapTestUsers.BindAs(env.LdapServiceDn, env.LdapServicePassword);
        var response = (SearchResponse)connection.SendRequest(new SearchRequest($"cn=students,ou=groups,{env.LdapBaseDn}", "(objectClass=*)", SearchScope.Base, "memberUid"));
        return Values(response.Entries[0], "memberUid");
    }

    private static List<string> Values(SearchResultEntry entry, string attribute) =>
        entry.Attributes[attribute] is { } values ? [.. values.GetValues(typeof(string)).Cast<string>()] : [];
}
