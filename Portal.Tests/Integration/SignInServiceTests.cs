using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Audit;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

public sealed class SignInServiceTests : MigratedDatabaseTest
{
    private const string Password = "Correct-horse-battery-9";

    private SignInService Service(int? ldapPort = null) =>
        new(LdapTestUsers.Directory(ldapPort), Database.ContextFactory(), new AuditLog(Database.ContextFactory(), TimeProvider.System),
            TimeProvider.System, NullLogger<SignInService>.Instance,
            new SignInThrottle(Database.ContextFactory(), TimeProvider.System, Options.Create(new SignInThrottleOptions())));

    [Fact]
    public async Task SignInAsync_RightPassword_CreatesAccountAndAuditsOnce()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password, groups: "portal-staff");

        var first = await Service().SignInAsync(uid, Password, "192.0.2.10", CancellationToken.None);
        var second = await Service().SignInAsync(uid, Password, "192.0.2.10", CancellationToken.None);

        Assert.IsType<SignInResult.Succeeded>(first);
        Assert.IsType<SignInResult.Succeeded>(second);
        await using var db = Database.CreateDbContext();
        var account = await db.Accounts.SingleAsync(a => a.Username == Username.Parse(uid));
        Assert.Equal(Role.Staff, account.Role);
        Assert.NotNull(account.LastSignInAt);
        var events = await db.AuditEvents.Where(e => e.Target == uid).ToListAsync();
        Assert.Equal(2, events.Count(e => e.Action == "auth.sign-in" && e.Actor == uid && e.SourceAddress == "192.0.2.10"));
        Assert.DoesNotContain(events, e => e.Data.Contains(Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SignInAsync_UppercaseAndSpaces_SignsInAsLowercaseName()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);

        var result = await Service().SignInAsync($"  {uid.ToUpperInvariant()} ", Password, null, CancellationToken.None);

        Assert.Equal(uid, Assert.IsType<SignInResult.Succeeded>(result).Account.Username.Value);
    }

    [Fact]
    public async Task SignInAsync_WrongPassword_FailsAndAuditsRefusal()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);

        var result = await Service().SignInAsync(uid, "wrong-password-123", "192.0.2.11", CancellationToken.None);

        Assert.Equal(SignInFailure.InvalidCredentials, Assert.IsType<SignInResult.Failed>(result).Failure);
        await using var db = Database.CreateDbContext();
        Assert.False(await db.Accounts.AnyAsync(a => a.Username == Username.Parse(uid)));
        var refusal = await db.AuditEvents.SingleAsync(e => e.Target == uid);
        Assert.Equal("auth.sign-in-refused", refusal.Action);
        Assert.Contains("InvalidCredentials", refusal.Data, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password-123", refusal.Data, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("admin", "")]
    [InlineData("", "secret-password")]
    [InlineData("   ", "secret-password")]
    [InlineData(null, null)]
    public async Task SignInAsync_MissingUsernameOrPassword_FailsWithoutAskingLdap(string? username, string? password)
    {
        // LDAP on port 1 is unreachable: reaching it would give DirectoryUnavailable, not MissingCredentials.
        var result = await Service(ldapPort: 1).SignInAsync(username, password, null, CancellationToken.None);

        Assert.Equal(SignInFailure.MissingCredentials, Assert.IsType<SignInResult.Failed>(result).Failure);
    }

    [Theory]
    [InlineData("*")]
    [InlineData("*)(uid=*")]
    [InlineData("admin)(|(objectClass=*")]
    [InlineData("uid=admin,ou=people")]
    public async Task SignInAsync_FilterMetacharacters_RefusedAsMalformedWithoutAskingLdap(string username)
    {
        var result = await Service(ldapPort: 1).SignInAsync(username, "whatever-password", null, CancellationToken.None);

        Assert.Equal(SignInFailure.MalformedUsername, Assert.IsType<SignInResult.Failed>(result).Failure);
    }

    [Fact]
    public async Task SignInAsync_LdapDown_FailsAsUnavailable()
    {
        var result = await Service(ldapPort: 1).SignInAsync("admin", "whatever-password", null, CancellationToken.None);

        Assert.Equal(SignInFailure.DirectoryUnavailable, Assert.IsType<SignInResult.Failed>(result).Failure);
    }
}
