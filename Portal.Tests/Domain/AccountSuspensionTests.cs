using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Tests.Domain;

/// <summary>A suspension's reason, author and time belong to the suspension (they go when it is lifted); the reason is plain text.</summary>
public sealed class AccountSuspensionTests
{
    private static readonly DateTimeOffset Now = new(2026, 4, 1, 9, 0, 0, TimeSpan.Zero);

    private static Account Active() => Account.FromDirectory(
        new DirectoryUser(Username.Parse("carol"), "uid=carol,ou=people,dc=example,dc=org", "Carol Example",
            EmailAddress.Parse("carol@example.org"), 10002, Role.Student, false), Now);

    [Fact]
    public void Reinstate_Suspended_ClearsReasonAuthorAndTime()
    {
        var account = Active();
        account.Suspend("Crypto mining", "admin", Now);

        account.Reinstate(Now.AddDays(1));

        Assert.Equal(AccountStatus.Active, account.Status);
        Assert.Null(account.SuspensionReason);
        Assert.Null(account.SuspendedBy);
        Assert.Null(account.SuspendedAt);
        Assert.True(account.DirectoryChangePending);
    }

    [Fact]
    public void Suspend_AfterReinstate_HoldsOnlyTheNewReason()
    {
        var account = Active();
        account.Suspend("First reason", "admin", Now);
        account.Reinstate(Now.AddDays(1));

        account.Suspend("Second reason", "other-admin", Now.AddDays(2));

        Assert.Equal("Second reason", account.SuspensionReason);
        Assert.Equal("other-admin", account.SuspendedBy);
        Assert.Equal(Now.AddDays(2), account.SuspendedAt);
    }

    [Fact]
    public void Suspend_ReasonWithNul_ThrowsAndStaysActive()
    {
        var account = Active();

        var error = Assert.Throws<InvalidValueException>(() => account.Suspend("unpaid\u0000fees", "admin", Now));

        Assert.Equal(nameof(Account.SuspensionReason), error.Field);
        Assert.Equal(AccountStatus.Active, account.Status);
    }

    [Fact]
    public void Suspend_ReasonOnSeveralLines_Accepted()
    {
        var account = Active();

        account.Suspend("Mining on GPU 0.\r\nSee ticket 42.", "admin", Now);

        Assert.Equal("Mining on GPU 0.\r\nSee ticket 42.", account.SuspensionReason);
    }
}
