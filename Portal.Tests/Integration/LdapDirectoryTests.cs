using Portal.Domain.Accounts;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>The LDAP adapter against the real slapd of the test profile.</summary>
public sealed class LdapDirectoryTests
{
    private const string Password = "Correct-horse-battery-9";

    [Fact]
    public async Task AuthenticateAsync_SeededAdminRightPassword_SucceedsAsAdmin()
    {
        var env = TestEnvironment.Current;

        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(env.AdminUsername), env.AdminPassword, CancellationToken.None);

        var user = Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User;
        Assert.Equal(Role.Admin, user.Role);
        Assert.Equal($"uid={env.AdminUsername},ou=people,{env.LdapBaseDn}", user.DistinguishedName);
        Assert.False(user.MustChangePassword);
        Assert.Equal("admin@example.org", user.Email?.Value);
    }

    [Fact]
    public async Task AuthenticateAsync_WrongPassword_RefusedAsInvalidCredentials()
    {
        var env = TestEnvironment.Current;

        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(env.AdminUsername), env.AdminPassword + "x", CancellationToken.None);

        Assert.Equal(SignInRefusal.InvalidCredentials, Assert.IsType<DirectoryAuthentication.Refused>(outcome).Reason);
    }

    [Fact]
    public async Task AuthenticateAsync_UnknownUser_RefusedAsInvalidCredentials()
    {
        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(LdapTestUsers.UniqueUsername("nobody")), Password, CancellationToken.None);

        Assert.Equal(SignInRefusal.InvalidCredentials, Assert.IsType<DirectoryAuthentication.Refused>(outcome).Reason);
    }

    [Fact]
    public async Task AuthenticateAsync_EmptyPassword_RefusedBeforeLdapIsAsked()
    {
        // Port 1 has no LDAP server: had the directory been asked, the call would fail as unavailable instead.
        var directory = LdapTestUsers.Directory(port: 1);

        await Assert.ThrowsAsync<ArgumentException>(() => directory.AuthenticateAsync(Username.Parse("admin"), "", CancellationToken.None));
    }

    [Fact]
    public async Task AuthenticateAsync_LdapDown_ThrowsDirectoryUnavailable()
    {
        var directory = LdapTestUsers.Directory(port: 1);

        await Assert.ThrowsAsync<DirectoryUnavailableException>(() => directory.AuthenticateAsync(Username.Parse("admin"), Password, CancellationToken.None));
    }

    [Fact]
    public async Task AuthenticateAsync_FirstTwoConnectionsDroppedAtOnce_ConnectsAgainAndSignsIn()
    {
        var env = TestEnvironment.Current;
        // The service account's connection is dropped twice, then gets through; the person's own bind connects at once.
        await using var proxy = new DroppingTcpProxy(env.LdapPort, drop: 2);

        var outcome = await LdapTestUsers.Directory(proxy.Port).AuthenticateAsync(Username.Parse(env.AdminUsername), env.AdminPassword, CancellationToken.None);

        Assert.Equal(Role.Admin, Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User.Role);
        Assert.Equal(4, proxy.Accepted);
    }

    [Fact]
    public async Task CheckAvailableAsync_EveryConnectionDroppedAtOnce_UnavailableAfterThreeTries()
    {
        await using var proxy = new DroppingTcpProxy(TestEnvironment.Current.LdapPort, drop: int.MaxValue);

        var error = await Assert.ThrowsAsync<DirectoryUnavailableException>(() => LdapTestUsers.Directory(proxy.Port).CheckAvailableAsync(CancellationToken.None));

        Assert.Contains("no credential was sent", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Accepted);
    }

    [Fact]
    public async Task AuthenticateAsync_UserInNoPortalGroup_SucceedsAsStudent()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);

        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Password, CancellationToken.None);

        Assert.Equal(Role.Student, Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User.Role);
    }

    [Fact]
    public async Task AuthenticateAsync_StaffGroupMember_SucceedsAsStaff()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password, groups: "portal-staff");

        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Password, CancellationToken.None);

        Assert.Equal(Role.Staff, Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User.Role);
    }

    [Fact]
    public async Task AuthenticateAsync_PasswordResetByAdmin_SucceedsWithMustChangePassword()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password, mustChangePassword: true);

        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Password, CancellationToken.None);

        Assert.True(Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User.MustChangePassword);
    }

    [Fact]
    public async Task AuthenticateAsync_LockedAccountRightPassword_RefusedAsLocked()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);
        LdapTestUsers.Lock(uid);

        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Password, CancellationToken.None);

        Assert.Equal(SignInRefusal.Locked, Assert.IsType<DirectoryAuthentication.Refused>(outcome).Reason);
    }

    [Fact]
    public void FindDistinguishedNames_ExactUsername_FindsExactlyOne()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);

        Assert.Equal([LdapTestUsers.PersonDn(uid)], LdapTestUsers.Directory().FindDistinguishedNames(uid));
    }

    [Theory]
    [InlineData("*")]
    [InlineData("a*")]
    [InlineData("*)(uid=*")]
    [InlineData("admin)(|(objectClass=*")]
    [InlineData("x)(|(objectClass=*")]
    [InlineData("a\\b")]
    [InlineData("admin\0")]
    public void FindDistinguishedNames_FilterMetacharacters_FindNone(string uid)
    {
        // Unescaped, "*" would match every person and "a\b" would be a filter syntax error.
        Assert.Empty(LdapTestUsers.Directory().FindDistinguishedNames(uid));
    }

    [Fact]
    public async Task CheckAvailableAsync_ServiceAccount_Binds()
    {
        await LdapTestUsers.Directory().CheckAvailableAsync(CancellationToken.None);
        await Assert.ThrowsAsync<DirectoryUnavailableException>(() => LdapTestUsers.Directory(port: 1).CheckAvailableAsync(CancellationToken.None));
    }
}
