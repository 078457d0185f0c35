using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Tests.Domain;

public sealed class AccountTests
{
    private static readonly DateTimeOffset Now = new(2026, 4, 1, 9, 0, 0, TimeSpan.Zero);

    private static DirectoryUser User(string name = "alice", Role role = Role.Student, bool mustChange = false) =>
        new(Username.Parse(name), $"uid={name},ou=people,dc=example,dc=org", "Alice Example",
            EmailAddress.Parse($"{name}@example.org"), 10001, role, mustChange);

    [Fact]
    public void FromDirectory_NewUser_IsActiveWithDirectoryFacts()
    {
        var account = Account.FromDirectory(User(role: Role.Staff, mustChange: true), Now);

        Assert.Equal(AccountStatus.Active, account.Status);
        Assert.Equal(Role.Staff, account.Role);
        Assert.True(account.MustChangePassword);
        Assert.Equal(10001, account.UidNumber);
        Assert.Null(account.LastSignInAt);
    }

    [Fact]
    public void RecordSignIn_RoleChangedInDirectory_FollowsDirectory()
    {
        var account = Account.FromDirectory(User(), Now);

        account.RecordSignIn(User(role: Role.Admin), Now.AddHours(1));

        Assert.Equal(Role.Admin, account.Role);
        Assert.Equal(Now.AddHours(1), account.LastSignInAt);
    }

    [Fact]
    public void RecordSignIn_OtherUsersEntry_Throws()
    {
        var account = Account.FromDirectory(User("alice"), Now);
        Assert.Throws<DomainException>(() => account.RecordSignIn(User("bob"), Now));
    }

    [Fact]
    public void Suspend_Active_BecomesSuspendedAndRefusesSignIn()
    {
        var account = Account.FromDirectory(User(), Now);

        account.Suspend("Crypto mining", "admin", Now);

        Assert.Equal(AccountStatus.Suspended, account.Status);
        Assert.Equal("Crypto mining", account.SuspensionReason);
        Assert.Equal("admin", account.SuspendedBy);
        Assert.True(account.DirectoryChangePending);
        Assert.Throws<DomainException>(() => account.RecordSignIn(User(), Now));
    }

    [Fact]
    public void Suspend_AlreadySuspended_ThrowsInvalidTransition()
    {
        var account = Account.FromDirectory(User(), Now);
        account.Suspend("Crypto mining", "admin", Now);

        var error = Assert.Throws<InvalidTransitionException>(() => account.Suspend("Again", "admin", Now));
        Assert.Equal("Suspended", error.From);
    }

    [Fact]
    public void Reinstate_Active_ThrowsInvalidTransition()
    {
        var account = Account.FromDirectory(User(), Now);
        Assert.Throws<InvalidTransitionException>(() => account.Reinstate(Now));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Suspend_WithoutReason_ThrowsInvalidValue(string reason)
    {
        var account = Account.FromDirectory(User(), Now);
        Assert.Throws<InvalidValueException>(() => account.Suspend(reason, "admin", Now));
        Assert.Throws<InvalidValueException>(() => account.Suspend(new string('x', Account.SuspensionReasonMax + 1), "admin", Now));
        Assert.Equal(AccountStatus.Active, account.Status);
    }

    [Fact]
    public void Reinstate_Suspended_BecomesActive()
    {
        var account = Account.FromDirectory(User(), Now);
        account.Suspend("Crypto mining", "admin", Now);

        account.Reinstate(Now);

        Assert.Equal(AccountStatus.Active, account.Status);
    }

    [Theory]
    [InlineData(Role.Admin, Role.Staff, true)]
    [InlineData(Role.Staff, Role.Staff, true)]
    [InlineData(Role.Student, Role.Staff, false)]
    [InlineData(Role.Staff, Role.Admin, false)]
    public void RoleIncludes_Hierarchy_AdminOverStaffOverStudent(Role role, Role required, bool expected)
    {
        Assert.Equal(expected, role.Includes(required));
    }
}
