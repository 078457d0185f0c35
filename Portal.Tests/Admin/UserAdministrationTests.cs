using System.DirectoryServices.Protocols;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Directory;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Servers;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>
/// The admin actions on a user as the portal carries them out: the click's service call, then the user's
/// administration job against the real test slapd, the real database and real Jupyter processes.
/// </summary>
public sealed partial class UserAdministrationTests : MigratedDatabaseTest
{
    private const string Password = "Suspend-me-not-42";
    private UserAdminServices _services = null!;
    private readonly List<Username> _servers = [];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new UserAdminServices(Database);
    }

    public override async Task DisposeAsync()
    {
        foreach (var user in _servers)
        {
            await _services.Servers.Backend.StopAsync(new ServerRef("local", user, user.Value), CancellationToken.None);
        }
        _services.Dispose();
        await base.DisposeAsync();
    }

    [Fact]
    public async Task Suspend_RunningServer_LocksLdapStopsServerAndSignInNamesReason_ReinstateUndoesLock()
    {
        var user = await _services.SignedInPersonAsync(Password);
        _servers.Add(user);
        Assert.Equal(ServerRequestResult.Requested, await _services.Servers.Servers.StartAsync(user, null, null, CancellationToken.None));
        var serverId = (await ServerAsync(user)).Id;
        await _services.Servers.SettleAsync(serverId);
        ServerAssert.InState(ServerState.Running, await ServerAsync(user));

        var result = await _services.Admin.SuspendAsync(user, "  Cryptocurrency mining on GPU 0  ", UserAdminServices.AdminActor, CancellationToken.None);

        Assert.Equal(UserActionOutcome.Requested, result.Outcome);
        var suspended = await _services.AccountAsync(user);
        Assert.Equal(AccountStatus.Suspended, suspended.Status);
        Assert.Equal("Cryptocurrency mining on GPU 0", suspended.SuspensionReason);
        Assert.Equal("admin", suspended.SuspendedBy);
        Assert.False(suspended.DirectoryLocked);
        // Refused at once, before the job has locked LDAP, with the reason.
        var refused = Assert.IsType<SignInResult.Failed>(await _services.SignIn.SignInAsync(user.Value, Password, "192.0.2.11", CancellationToken.None));
        Assert.Equal(SignInFailure.Suspended, refused.Failure);
        Assert.Equal("Cryptocurrency mining on GPU 0", refused.Reason);

        await _services.SyncAsync(user);

        Assert.True((await _services.AccountAsync(user)).DirectoryLocked);
        Assert.Equal(LdapDirectory.PermanentLock, await LockedTimeAsync(user));
        Assert.Equal(49, BindError(user, Password));
        Assert.Equal(new DirectoryAuthentication.Refused(SignInRefusal.Locked),
            await _services.Directory.AuthenticateAsync(user, Password, CancellationToken.None));
        Assert.Equal(DesiredServerState.Stopped, (await ServerAsync(user)).Desired);
        await _services.Servers.SettleAsync(serverId);
        ServerAssert.InState(ServerState.Stopped, await ServerAsync(user));
        refused = Assert.IsType<SignInResult.Failed>(await _services.SignIn.SignInAsync(user.Value, Password, "192.0.2.11", CancellationToken.None));
        Assert.Equal(SignInFailure.Suspended, refused.Failure);
        Assert.Equal("Cryptocurrency mining on GPU 0", refused.Reason);
        await AssertAuditedAsync(user, "admin.user.suspend", "admin");

        // Running the job again changes nothing.
        Assert.Null(await _services.Sync.SyncAsync(user, CancellationToken.None));
        Assert.Equal(UserActionOutcome.NothingToDo,
            (await _services.Admin.SuspendAsync(user, "again", UserAdminServices.AdminActor, CancellationToken.None)).Outcome);

        Assert.Equal(UserActionOutcome.Requested, (await _services.Admin.ReinstateAsync(user, UserAdminServices.AdminActor, CancellationToken.None)).Outcome);
        await _services.SyncAsync(user);

        Assert.False((await _services.AccountAsync(user)).DirectoryLocked);
        Assert.Null(await LockedTimeAsync(user));
        Assert.Equal(0, BindError(user, Password));
        Assert.IsType<SignInResult.Succeeded>(await _services.SignIn.SignInAsync(user.Value, Password, "192.0.2.11", CancellationToken.None));
        // The server is not restarted by itself, but may be started again.
        ServerAssert.InState(ServerState.Stopped, await ServerAsync(user));
        Assert.Equal(ServerRequestResult.Requested, await _services.Servers.Servers.StartAsync(user, null, null, CancellationToken.None));
        await _services.Servers.SettleAsync(serverId);
        ServerAssert.InState(ServerState.Running, await ServerAsync(user));
        await AssertAuditedAsync(user, "admin.user.reinstate", "admin");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task Suspend_WithoutReason_RefusedAndNothingChanges(string reason)
    {
        var user = await _services.SignedInPersonAsync(Password);

        var result = await _services.Admin.SuspendAsync(user, reason, UserAdminServices.AdminActor, CancellationToken.None);

        Assert.Equal(UserActionOutcome.Invalid, result.Outcome);
        Assert.Equal(AccountStatus.Active, (await _services.AccountAsync(user)).Status);
        Assert.Equal(UserActionOutcome.Invalid, (await _services.Admin.SuspendAsync(user, new string('x', 501), UserAdminServices.AdminActor, CancellationToken.None)).Outcome);
        Assert.Equal(UserActionOutcome.NotFound,
            (await _services.Admin.SuspendAsync(Username.Parse("nobody-here"), "x", UserAdminServices.AdminActor, CancellationToken.None)).Outcome);
    }

    [Fact]
    public async Task ResetPassword_AccountWithoutApplication_IssuesLinkQueuesMailAndForcesChange()
    {
        var user = await _services.SignedInPersonAsync(Password);

        var result = await _services.Admin.ResetPasswordAsync(user, UserAdminServices.AdminActor, CancellationToken.None);

        Assert.Equal(UserActionOutcome.Requested, result.Outcome);
        string body;
        await using (var db = Database.CreateDbContext())
        {
            var link = await db.CredentialLinks.AsNoTracking().SingleAsync(l => l.Username == user);
            Assert.Null(link.ApplicationId);
            Assert.Null(link.PasswordSetAt);
            var mail = await db.OutboxMails.AsNoTracking().SingleAsync(m => m.DeduplicationKey == $"password-reset:{link.Id}");
            Assert.Equal($"{user}@example.org", mail.Recipient);
            body = mail.Body;
            Assert.DoesNotContain(Password, body, StringComparison.Ordinal);
        }

        await _services.SyncAsync(user);

        Assert.True((await _services.Directory.FindUserAsync(user, CancellationToken.None))!.MustChangePassword);
        Assert.NotEqual(0, BindError(user, Password));
        var token = WelcomeLink().Match(body).Groups["token"].Value;
        var revealed = Assert.IsType<RevealResult.Revealed>(await _services.Credentials.RevealAsync(token, "192.0.2.12", CancellationToken.None));
        Assert.Equal(user.Value, revealed.Username);
        Assert.True(revealed.IsReset);
        var signedIn = Assert.IsType<SignInResult.Succeeded>(
            await _services.SignIn.SignInAsync(user.Value, revealed.Password, "192.0.2.12", CancellationToken.None));
        Assert.True(signedIn.Account.MustChangePassword);
        Assert.IsType<RevealResult.AlreadyUsed>(await _services.Credentials.RevealAsync(token, "192.0.2.12", CancellationToken.None));
        await AssertAuditedAsync(user, "admin.user.reset-password", "admin");
    }

    [Fact]
    public async Task ResetPassword_Twice_OnlyTheNewestLinkWorks()
    {
        var user = await _services.SignedInPersonAsync(Password);
        await _services.Admin.ResetPasswordAsync(user, UserAdminServices.AdminActor, CancellationToken.None);
        await _services.Admin.ResetPasswordAsync(user, UserAdminServices.AdminActor, CancellationToken.None);

        await _services.SyncAsync(user);

        await using var db = Database.CreateDbContext();
        var bodies = await db.OutboxMails.AsNoTracking().Where(m => m.Recipient == $"{user}@example.org").OrderBy(m => m.Id).Select(m => m.Body).ToListAsync();
        Assert.Equal(2, bodies.Count);
        Assert.IsType<RevealResult.Expired>(await _services.Credentials.RevealAsync(WelcomeLink().Match(bodies[0]).Groups["token"].Value, null, CancellationToken.None));
        var revealed = Assert.IsType<RevealResult.Revealed>(await _services.Credentials.RevealAsync(WelcomeLink().Match(bodies[1]).Groups["token"].Value, null, CancellationToken.None));
        Assert.Equal(0, BindError(user, revealed.Password));
    }

    [Fact]
    public async Task ChangeRole_StudentToStaffToAdmin_ChangesLdapGroups()
    {
        var user = await _services.SignedInPersonAsync(Password);

        Assert.Equal(UserActionOutcome.Requested, (await _services.Admin.ChangeRoleAsync(user, Role.Staff, UserAdminServices.AdminActor, CancellationToken.None)).Outcome);
        Assert.Equal(Role.Staff, (await _services.AccountAsync(user)).RequestedRole);
        await _services.SyncAsync(user);

        Assert.Equal(Role.Staff, (await _services.Directory.FindUserAsync(user, CancellationToken.None))!.Role);
        Assert.Equal(["portal-staff"], await PortalGroupsAsync(user));
        var account = await _services.AccountAsync(user);
        Assert.Equal(Role.Staff, account.Role);
        Assert.Null(account.RequestedRole);

        await _services.Admin.ChangeRoleAsync(user, Role.Admin, UserAdminServices.AdminActor, CancellationToken.None);
        await _services.SyncAsync(user);
        Assert.Equal(Role.Admin, (await _services.Directory.FindUserAsync(user, CancellationToken.None))!.Role);
        Assert.Equal(["portal-admins"], await PortalGroupsAsync(user));

        // Another admin exists (the seeded one signed in), so this one may go back to student.
        await _services.SignIn.SignInAsync(TestEnvironment.Current.AdminUsername, TestEnvironment.Current.AdminPassword, null, CancellationToken.None);
        await _services.Admin.ChangeRoleAsync(user, Role.Student, UserAdminServices.AdminActor, CancellationToken.None);
        await _services.SyncAsync(user);
        Assert.Equal(Role.Student, (await _services.Directory.FindUserAsync(user, CancellationToken.None))!.Role);
        Assert.Empty(await PortalGroupsAsync(user));
        await AssertAuditedAsync(user, "admin.user.role", "admin");
    }

    [Fact]
    public async Task ChangeRole_LastAdminDemotingThemselves_Refused()
    {
        var admin = await _services.SignedInPersonAsync(Password, "portal-admins");
        Assert.Equal(Role.Admin, (await _services.AccountAsync(admin)).Role);
        var self = new Infrastructure.Audit.AuditActor(admin.Value, "192.0.2.13");

        var result = await _services.Admin.ChangeRoleAsync(admin, Role.Staff, self, CancellationToken.None);

        Assert.Equal(UserActionOutcome.LastAdmin, result.Outcome);
        Assert.Equal(Role.Admin, (await _services.AccountAsync(admin)).Role);
        Assert.Null((await _services.AccountAsync(admin)).RequestedRole);
        Assert.Equal(Role.Admin, (await _services.Directory.FindUserAsync(admin, CancellationToken.None))!.Role);

        // With a second active admin the demotion goes through.
        var second = await _services.SignedInPersonAsync(Password, "portal-admins");
        Assert.Equal(UserActionOutcome.Requested, (await _services.Admin.ChangeRoleAsync(admin, Role.Staff, self, CancellationToken.None)).Outcome);
        // ... and now the second one is the last.
        Assert.Equal(UserActionOutcome.LastAdmin,
            (await _services.Admin.ChangeRoleAsync(second, Role.Student, UserAdminServices.AdminActor, CancellationToken.None)).Outcome);
        await _services.SyncAsync(admin);
        Assert.Equal(Role.Staff, (await _services.Directory.FindUserAsync(admin, CancellationToken.None))!.Role);
    }

    [Fact]
    public async Task SaveQuota_TwoAdminsFromSameVersion_SecondGetsConflictFirstStaysRetrySucceeds()
    {
        var user = await _services.SignedInPersonAsync(Password);
        var loadedByBoth = (await _services.Admin.DetailAsync(user, CancellationToken.None))!.QuotaOverride?.Version;
        Assert.Null(loadedByBoth);
        var first = new Infrastructure.Audit.AuditActor("admin-one", null);
        var second = new Infrastructure.Audit.AuditActor("admin-two", null);

        var saved = Assert.IsType<QuotaSaveResult.Saved>(await _services.Admin.SaveQuotaAsync(user,
            new QuotaEdit(null, 4, 16, null, 2, null), loadedByBoth, first, CancellationToken.None));
        var conflict = Assert.IsType<QuotaSaveResult.Conflict>(await _services.Admin.SaveQuotaAsync(user,
            new QuotaEdit(null, 8, null, null, 0, null), loadedByBoth, second, CancellationToken.None));

        Assert.Equal(new ResourceLimits(4, 16, 100, 2, null), saved.Effective);
        Assert.Equal(saved.Version, conflict.CurrentVersion);
        Assert.Equal(4, conflict.Current!.CpuCores);
        Assert.Equal(new ResourceLimits(4, 16, 100, 2, null), conflict.Effective);
        Assert.Equal(new ResourceLimits(4, 16, 100, 2, null), (await _services.Servers.Quotas.ForAsync(user, CancellationToken.None)).Limits);

        // The second admin saw the current values and saves again from them.
        var retried = Assert.IsType<QuotaSaveResult.Saved>(await _services.Admin.SaveQuotaAsync(user,
            new QuotaEdit(null, 8, 16, null, 0, null), conflict.CurrentVersion, second, CancellationToken.None));
        Assert.Equal(saved.Version + 1, retried.Version);
        Assert.Equal(new ResourceLimits(8, 16, 100, 0, null), (await _services.Servers.Quotas.ForAsync(user, CancellationToken.None)).Limits);
        // ... and now the first admin's stale form is the one refused.
        Assert.IsType<QuotaSaveResult.Conflict>(await _services.Admin.SaveQuotaAsync(user,
            new QuotaEdit(null, 1, null, null, null, null), saved.Version, first, CancellationToken.None));
        Assert.IsType<QuotaSaveResult.Invalid>(await _services.Admin.SaveQuotaAsync(user,
            new QuotaEdit("no-such-plan", null, null, null, null, null), retried.Version, first, CancellationToken.None));
        await using var db = Database.CreateDbContext();
        Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.Action == "admin.user.quota" && e.Target == user.Value));
    }

    [Fact]
    public async Task Detail_ShowsDirectoryAttributesQuotaServerAndAuditTrail_UnknownIsNull()
    {
        var user = await _services.SignedInPersonAsync(Password);
        await _services.Admin.SuspendAsync(user, "Checking the detail page", UserAdminServices.AdminActor, CancellationToken.None);

        var detail = (await _services.Admin.DetailAsync(user, CancellationToken.None))!;

        Assert.Equal(user, detail.Account.Username);
        Assert.Equal([$"{user}@example.org"], detail.DirectoryAttributes!["mail"]);
        Assert.DoesNotContain("userPassword", detail.DirectoryAttributes.Keys);
        Assert.True(detail.LockPending);
        Assert.Equal("standard", detail.Plan.Name);
        Assert.Contains(detail.AuditTrail, e => e.Action == "admin.user.suspend");
        Assert.Contains(detail.AuditTrail, e => e.Action == "auth.sign-in");
        Assert.Null(await _services.Admin.DetailAsync(Username.Parse("nobody-here"), CancellationToken.None));
    }

    private async Task<UserServer> ServerAsync(Username user)
    {
        await using var db = Database.CreateDbContext();
        return await db.Servers.AsNoTracking().SingleAsync(s => s.Username == user);
    }

    private async Task<string?> LockedTimeAsync(Username user) =>
        (await _services.Directory.ReadAttributesAsync(user, CancellationToken.None))!.TryGetValue("pwdAccountLockedTime", out var values) ? values[0] : null;

    private async Task<List<string>> PortalGroupsAsync(Username user) =>
        [.. (await _services.Directory.ReadAttributesAsync(user, CancellationToken.None))!["memberOf (portal groups)"]
            .Where(g => g is "portal-admins" or "portal-staff")];

    /// <summary>Binds as the person directly: 0 when the bind succeeds, else the LDAP error code.</summary>
    private static int BindError(Username user, string password)
    {
        try
        {
            using var connection = LdapTestUsers.BindAs(LdapTestUsers.PersonDn(user.Value), password);
            return 0;
        }
        catch (LdapException e)
        {
            return e.ErrorCode;
        }
    }

    private async Task AssertAuditedAsync(Username user, string action, string actor)
    {
        await using var db = Database.CreateDbContext();
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Action == action && e.Target == user.Value && e.Actor == actor),
            $"no {action} by {actor} on {user}");
    }

    [GeneratedRegex("/welcome/(?<token>[A-Za-z0-9_-]+)")]
    private static partial Regex WelcomeLink();
}
