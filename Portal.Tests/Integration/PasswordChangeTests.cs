using System.DirectoryServices.Protocols;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Audit;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>Password change against the real slapd (ppolicy with pwdReset and history) and a fresh database.</summary>
public sealed class PasswordChangeTests : MigratedDatabaseTest
{
    private const string Initial = "Initial-password-1";
    private const string Chosen = "Violet river under the moon";

    private PasswordChangeService Service(int? ldapPort = null, TimeProvider? clock = null)
    {
        var directory = LdapTestUsers.Directory(ldapPort);
        var contexts = Database.ContextFactory();
        clock ??= TimeProvider.System;
        return new PasswordChangeService(new PasswordPolicy(CommonPasswords.Instance), directory, directory,
            new SignInThrottle(contexts, clock, Options.Create(new SignInThrottleOptions())),
            contexts, new AuditLog(contexts, clock), clock, NullLogger<PasswordChangeService>.Instance);
    }

    private SignInService SignIn() =>
        new(LdapTestUsers.Directory(), Database.ContextFactory(), new AuditLog(Database.ContextFactory(), TimeProvider.System),
            TimeProvider.System, NullLogger<SignInService>.Instance,
            new SignInThrottle(Database.ContextFactory(), TimeProvider.System, Options.Create(new SignInThrottleOptions())));

    private static async Task<DirectoryAuthentication> AuthenticateAsync(string uid, string password) =>
        await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), password, CancellationToken.None);

    [Fact]
    public async Task ChangePasswordAsync_PasswordResetUser_NewBindsOldDoesNotAndResetCleared()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);

        var outcome = await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(uid), Initial, Chosen, CancellationToken.None);

        Assert.IsType<PasswordChangeOutcome.Changed>(outcome);
        Assert.Equal(SignInRefusal.InvalidCredentials, Assert.IsType<DirectoryAuthentication.Refused>(await AuthenticateAsync(uid, Initial)).Reason);
        Assert.False(Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, Chosen)).User.MustChangePassword);
        // pwdReset as the service account reads it.
        var entry = await LdapTestUsers.Directory().FindUserAsync(Username.Parse(uid), CancellationToken.None);
        Assert.False(entry!.MustChangePassword);
    }

    [Fact]
    public async Task ChangePasswordAsync_WrongCurrentPassword_ChangesNothing()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);

        var outcome = await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(uid), "Not-the-password-1", Chosen, CancellationToken.None);

        Assert.IsType<PasswordChangeOutcome.WrongCurrentPassword>(outcome);
        Assert.True(Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, Initial)).User.MustChangePassword);
        Assert.IsType<DirectoryAuthentication.Refused>(await AuthenticateAsync(uid, Chosen));
    }

    [Fact]
    public async Task ChangePasswordAsync_UnknownUser_WrongCurrentPassword()
    {
        var outcome = await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(LdapTestUsers.UniqueUsername("nobody")),
            Initial, Chosen, CancellationToken.None);

        Assert.IsType<PasswordChangeOutcome.WrongCurrentPassword>(outcome);
    }

    [Fact]
    public async Task ChangePasswordAsync_RecentPasswordAgain_RejectedByDirectoryAsInHistory()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial);
        var directory = LdapTestUsers.Directory();
        Assert.IsType<PasswordChangeOutcome.Changed>(await directory.ChangePasswordAsync(Username.Parse(uid), Initial, Chosen, CancellationToken.None));

        var outcome = await directory.ChangePasswordAsync(Username.Parse(uid), Chosen, Initial, CancellationToken.None);

        var rejected = Assert.IsType<PasswordChangeOutcome.RejectedByDirectory>(outcome);
        Assert.Equal(DirectoryPasswordRejection.InHistory, rejected.Reason);
        Assert.NotEmpty(rejected.ServerMessage);
        Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, Chosen));
    }

    [Fact]
    public async Task ChangePasswordAsync_ShorterThanDirectoryMinimum_RejectedByDirectoryAsQuality()
    {
        // The portal's policy would refuse this first; asked directly, slapd's ppolicy (pwdMinLength 12) refuses it too.
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial);

        var outcome = await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(uid), Initial, "short-1", CancellationToken.None);

        Assert.Equal(DirectoryPasswordRejection.Quality, Assert.IsType<PasswordChangeOutcome.RejectedByDirectory>(outcome).Reason);
        Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, Initial));
    }

    [Fact]
    public async Task ChangePasswordAsync_DecomposedNewPassword_BindsWhenTypedComposed()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial);

        await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(uid), Initial, "cafe\u0301 cre\u0300me bru\u0302le\u0301e", CancellationToken.None);

        var result = await SignIn().SignInAsync(uid, "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e", null, CancellationToken.None);
        Assert.IsType<SignInResult.Succeeded>(result);
    }

    [Fact]
    public async Task ChangePasswordAsync_JapanesePassword_Binds()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial);
        const string japanese = "月が綺麗ですね、本当に今夜は";

        var outcome = await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(uid), Initial, japanese, CancellationToken.None);

        Assert.IsType<PasswordChangeOutcome.Changed>(outcome);
        Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, japanese));
    }

    [Fact]
    public async Task ChangePasswordAsync_LdapDown_ThrowsDirectoryUnavailable()
    {
        await Assert.ThrowsAsync<DirectoryUnavailableException>(() =>
            LdapTestUsers.Directory(port: 1).ChangePasswordAsync(Username.Parse("admin"), Initial, Chosen, CancellationToken.None));
    }

    [Theory]
    [InlineData("", Chosen)]
    [InlineData(Initial, "")]
    public async Task ChangePasswordAsync_EmptyPassword_RefusedBeforeLdapIsAsked(string current, string next)
    {
        // Port 1 has no LDAP server: had the directory been asked, the call would fail as unavailable instead.
        await Assert.ThrowsAsync<ArgumentException>(() =>
            LdapTestUsers.Directory(port: 1).ChangePasswordAsync(Username.Parse("admin"), current, next, CancellationToken.None));
    }

    [Fact]
    public async Task PasswordResetUser_SearchBeforeChange_InsufficientAccessRightsAndAllowedAfter()
    {
        var uid = LdapTestUsers.UniqueUsername();
        var dn = LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);

        using (var before = BindAs(dn, Initial))
        {
            var refused = Assert.Throws<DirectoryOperationException>(() => before.SendRequest(OwnEntry(dn)));
            Assert.Equal(ResultCode.InsufficientAccessRights, refused.Response.ResultCode);
        }
        await LdapTestUsers.Directory().ChangePasswordAsync(Username.Parse(uid), Initial, Chosen, CancellationToken.None);

        using var after = BindAs(dn, Chosen);
        var response = (SearchResponse)after.SendRequest(OwnEntry(dn));
        Assert.Equal(dn, Assert.Single(response.Entries.Cast<SearchResultEntry>()).DistinguishedName);
    }

    [Fact]
    public async Task ChangeAsync_ForcedChange_AccountNoLongerMustChangeAndAudited()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        Assert.True(Assert.IsType<SignInResult.Succeeded>(await SignIn().SignInAsync(uid, Initial, null, CancellationToken.None)).Account.MustChangePassword);

        var result = await Service().ChangeAsync(Username.Parse(uid), Initial, Chosen, "192.0.2.40", CancellationToken.None);

        Assert.False(Assert.IsType<PasswordChangeResult.Changed>(result).Account.MustChangePassword);
        await using var db = Database.CreateDbContext();
        Assert.False((await db.Accounts.SingleAsync(a => a.Username == Username.Parse(uid))).MustChangePassword);
        var changed = await db.AuditEvents.SingleAsync(e => e.Action == PasswordChangeService.ChangedAction);
        Assert.Equal(uid, changed.Actor);
        Assert.Equal(uid, changed.Target);
        Assert.Equal("192.0.2.40", changed.SourceAddress);
        Assert.True(JsonDocument.Parse(changed.Data).RootElement.GetProperty("forced").GetBoolean());
        Assert.DoesNotContain(await db.AuditEvents.Select(e => e.Data).ToListAsync(),
            d => d.Contains(Initial, StringComparison.Ordinal) || d.Contains(Chosen, StringComparison.Ordinal));
        Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, Chosen));
    }

    [Fact]
    public async Task ChangeAsync_WrongCurrentPassword_CountedAndAuditedAsRefused()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Initial);

        var result = await Service().ChangeAsync(Username.Parse(uid), "Not-the-password-1", Chosen, "192.0.2.41", CancellationToken.None);

        Assert.IsType<PasswordChangeResult.WrongCurrentPassword>(result);
        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.SignInFailures.CountAsync(f => f.Scope == SignInFailureRecord.AccountScope && f.Subject == uid));
        Assert.Equal(1, await db.SignInFailures.CountAsync(f => f.Scope == SignInFailureRecord.AddressScope && f.Subject == "192.0.2.41"));
        var refused = await db.AuditEvents.SingleAsync(e => e.Target == uid);
        Assert.Equal(PasswordChangeService.RefusedAction, refused.Action);
        Assert.DoesNotContain("Not-the-password-1", refused.Data, StringComparison.Ordinal);
        Assert.IsType<DirectoryAuthentication.Succeeded>(await AuthenticateAsync(uid, Initial));
    }

    [Theory]
    [InlineData("password1234", PasswordRejection.Common)]
    [InlineData("short-pw", PasswordRejection.TooShort)]
    [InlineData(Initial, PasswordRejection.SameAsCurrent)]
    public async Task ChangeAsync_PolicyRejects_NeverReachesLdap(string newPassword, PasswordRejection expected)
    {
        var username = await StoredAccountAsync();

        // LDAP on port 1 is unreachable: reaching it would give DirectoryUnavailable.
        var result = await Service(ldapPort: 1).ChangeAsync(username, Initial, newPassword, "192.0.2.42", CancellationToken.None);

        Assert.Equal(expected, Assert.IsType<PasswordChangeResult.Rejected>(result).Reason);
        await using var db = Database.CreateDbContext();
        Assert.False(await db.SignInFailures.AnyAsync());
    }

    [Fact]
    public async Task ChangeAsync_NameInNewPassword_RejectedWithTheStoredDisplayName()
    {
        var username = await StoredAccountAsync(displayName: "Hanako Yamada");

        var result = await Service(ldapPort: 1).ChangeAsync(username, Initial, "yamada forever and ever", null, CancellationToken.None);

        Assert.Equal(PasswordRejection.ContainsName, Assert.IsType<PasswordChangeResult.Rejected>(result).Reason);
    }

    [Fact]
    public async Task ChangeAsync_Throttled_NeverReachesLdap()
    {
        var username = await StoredAccountAsync();
        var clock = new ManualClock(new DateTimeOffset(2026, 4, 1, 9, 0, 0, TimeSpan.Zero));
        var throttle = new SignInThrottle(Database.ContextFactory(), clock, Options.Create(new SignInThrottleOptions()));
        for (var i = 0; i < 4; i++)
        {
            await throttle.RecordFailureAsync(username, null, CancellationToken.None);
        }

        // LDAP on port 1 is unreachable: reaching it would give DirectoryUnavailable.
        var result = await Service(ldapPort: 1, clock).ChangeAsync(username, Initial, Chosen, null, CancellationToken.None);

        Assert.Equal(TimeSpan.FromSeconds(2), Assert.IsType<PasswordChangeResult.Throttled>(result).RetryAfter);
    }

    [Fact]
    public async Task ChangeAsync_EmptyInput_IncompleteWithoutAskingAnyone()
    {
        var result = await Service(ldapPort: 1).ChangeAsync(Username.Parse("admin"), "", Chosen, null, CancellationToken.None);

        Assert.IsType<PasswordChangeResult.Incomplete>(result);
    }

    [Fact]
    public async Task ChangeAsync_LdapDown_Unavailable()
    {
        var username = await StoredAccountAsync();

        var result = await Service(ldapPort: 1).ChangeAsync(username, Initial, Chosen, null, CancellationToken.None);

        Assert.IsType<PasswordChangeResult.DirectoryUnavailable>(result);
    }

    [Fact]
    public void CommonPasswords_EmbeddedList_HasAtLeastTenThousandEntriesAndIgnoresCase()
    {
        Assert.True(CommonPasswords.Instance.Count >= 10_000, $"only {CommonPasswords.Instance.Count} common passwords");
        Assert.Contains("password", CommonPasswords.Instance);
        Assert.Contains("PassWord", CommonPasswords.Instance);
        Assert.Contains("qwertyuiop", CommonPasswords.Instance);
        Assert.DoesNotContain(Chosen, CommonPasswords.Instance);
    }

    /// <summary>An account record as a sign-in would have made it, without asking LDAP.</summary>
    private async Task<Username> StoredAccountAsync(string displayName = "Stored Person")
    {
        var username = Username.Parse(LdapTestUsers.UniqueUsername());
        await using var db = Database.CreateDbContext();
        db.Accounts.Add(Account.FromDirectory(new DirectoryUser(username, LdapTestUsers.PersonDn(username.Value), displayName,
            null, null, Role.Student, MustChangePassword: true), DateTimeOffset.UtcNow));
        await db.SaveChangesAsync();
        return username;
    }

    private static SearchRequest OwnEntry(string dn) => new(dn, "(objectClass=*)", SearchScope.Base, "uid");

    private static LdapConnection BindAs(string dn, string password) => LdapTestUsers.BindAs(dn, password);
}
