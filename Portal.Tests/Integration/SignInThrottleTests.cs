using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Audit;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>Throttling of password guesses, on a fresh database with a clock that moves only when told to.</summary>
public sealed class SignInThrottleTests : MigratedDatabaseTest
{
    private const string Password = "Correct-horse-battery-9";
    private const string Address = "192.0.2.50";

    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 4, 1, 9, 0, 0, TimeSpan.Zero));

    private SignInThrottle Throttle(SignInThrottleOptions? options = null) =>
        new(Database.ContextFactory(), _clock, Options.Create(options ?? new SignInThrottleOptions()));

    private SignInService SignIn(int? ldapPort = null) =>
        new(LdapTestUsers.Directory(ldapPort), Database.ContextFactory(), new AuditLog(Database.ContextFactory(), _clock),
            _clock, NullLogger<SignInService>.Instance, Throttle());

    private static Username NewName() => Username.Parse(LdapTestUsers.UniqueUsername());

    private async Task FailAsync(SignInThrottle throttle, Username account, string? address, int times, TimeSpan? apart = null)
    {
        for (var i = 0; i < times; i++)
        {
            if (i > 0 && apart is { } gap)
            {
                _clock.Advance(gap);
            }
            await throttle.RecordFailureAsync(account, address, CancellationToken.None);
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 0)]
    [InlineData(4, 2)]
    [InlineData(5, 4)]
    [InlineData(6, 8)]
    [InlineData(7, 16)]
    [InlineData(8, 32)]
    [InlineData(9, 60)]
    public void DelayAfter_Failures_FreeThenDoublingCappedAtAMinute(int failures, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), Throttle().DelayAfter(failures));
    }

    [Fact]
    public async Task CheckAsync_ThreeFailures_NextAttemptAllowedAtOnce()
    {
        var throttle = Throttle();
        var account = NewName();
        await FailAsync(throttle, account, Address, 3);

        Assert.True((await throttle.CheckAsync(account, Address, CancellationToken.None)).IsAllowed);
    }

    [Fact]
    public async Task CheckAsync_FourthAndFifthFailure_WaitTwoThenFourSeconds()
    {
        var throttle = Throttle();
        var account = NewName();
        await FailAsync(throttle, account, Address, 4);

        var afterFourth = await throttle.CheckAsync(account, Address, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(1.5));
        var halfWay = await throttle.CheckAsync(account, Address, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(0.5));
        var afterWait = await throttle.CheckAsync(account, Address, CancellationToken.None);
        await FailAsync(throttle, account, Address, 1);
        var afterFifth = await throttle.CheckAsync(account, Address, CancellationToken.None);

        Assert.Equal(TimeSpan.FromSeconds(2), afterFourth.RetryAfter);
        Assert.False(afterFourth.LockedOut);
        Assert.Equal(TimeSpan.FromSeconds(0.5), halfWay.RetryAfter);
        Assert.True(afterWait.IsAllowed);
        Assert.Equal(TimeSpan.FromSeconds(4), afterFifth.RetryAfter);
    }

    [Fact]
    public async Task CheckAsync_TenFailuresOfAnAccount_OnlyTheWaitNoLockoutOfItsOwn()
    {
        var throttle = Throttle();
        var account = NewName();
        await FailAsync(throttle, account, address: null, 10, apart: TimeSpan.FromMinutes(1));

        var afterTenth = await throttle.CheckAsync(account, null, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(60));
        var aMinuteLater = await throttle.CheckAsync(account, null, CancellationToken.None);

        // The account's lockout is the directory's password policy (AccountLockoutTests); here only the capped wait.
        Assert.False(afterTenth.LockedOut);
        Assert.Equal(TimeSpan.FromSeconds(60), afterTenth.RetryAfter);
        Assert.True(aMinuteLater.IsAllowed);
    }

    [Fact]
    public async Task CheckAsync_TenFailuresFromAnAddressInWindow_LockedOutUntilOldestLeavesTheWindow()
    {
        var throttle = Throttle();
        var first = _clock.GetUtcNow();
        for (var i = 0; i < 10; i++)
        {
            if (i > 0)
            {
                _clock.Advance(TimeSpan.FromMinutes(1));
            }
            await throttle.RecordFailureAsync(NewName(), Address, CancellationToken.None);
        }

        var locked = await throttle.CheckAsync(NewName(), Address, CancellationToken.None);
        _clock.Advance(first + TimeSpan.FromMinutes(15) - _clock.GetUtcNow() - TimeSpan.FromSeconds(1));
        var stillLocked = await throttle.CheckAsync(NewName(), Address, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var released = await throttle.CheckAsync(NewName(), Address, CancellationToken.None);

        // The last failure was at 9 minutes; the oldest leaves the window at 15.
        Assert.True(locked.LockedOut);
        Assert.Equal(TimeSpan.FromMinutes(6), locked.RetryAfter);
        Assert.True(stillLocked.LockedOut);
        Assert.Equal(TimeSpan.FromSeconds(1), stillLocked.RetryAfter);
        Assert.True(released.IsAllowed);
    }

    [Fact]
    public async Task CheckAsync_FailuresOlderThanTheWindow_Forgotten()
    {
        var throttle = Throttle();
        var account = NewName();
        await FailAsync(throttle, account, Address, 10);

        _clock.Advance(TimeSpan.FromMinutes(15));

        Assert.True((await throttle.CheckAsync(account, Address, CancellationToken.None)).IsAllowed);
    }

    [Fact]
    public async Task RecordFailureAsync_ExpiredRows_Deleted()
    {
        var throttle = Throttle();
        var account = NewName();
        await FailAsync(throttle, account, Address, 5);
        _clock.Advance(TimeSpan.FromMinutes(16));

        await FailAsync(throttle, account, Address, 1);

        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.SignInFailures.CountAsync(f => f.Scope == SignInFailureRecord.AccountScope && f.Subject == account.Value));
        Assert.Equal(1, await db.SignInFailures.CountAsync(f => f.Scope == SignInFailureRecord.AddressScope && f.Subject == Address));
    }

    [Fact]
    public async Task CheckAsync_FailuresOfOneAccountFromManyAddresses_ThrottleThatAccountEverywhere()
    {
        var throttle = Throttle();
        var account = NewName();
        for (var i = 0; i < 4; i++)
        {
            await throttle.RecordFailureAsync(account, $"198.51.100.{i + 1}", CancellationToken.None);
        }

        var fromNewAddress = await throttle.CheckAsync(account, "203.0.113.9", CancellationToken.None);
        var otherAccount = await throttle.CheckAsync(NewName(), "203.0.113.9", CancellationToken.None);

        Assert.Equal(TimeSpan.FromSeconds(2), fromNewAddress.RetryAfter);
        Assert.True(otherAccount.IsAllowed);
    }

    [Fact]
    public async Task CheckAsync_FailuresOfManyAccountsFromOneAddress_ThrottleThatAddressForEveryAccount()
    {
        var throttle = Throttle();
        for (var i = 0; i < 10; i++)
        {
            await throttle.RecordFailureAsync(NewName(), Address, CancellationToken.None);
        }

        var fresh = NewName();
        var fromThatAddress = await throttle.CheckAsync(fresh, Address, CancellationToken.None);
        var fromElsewhere = await throttle.CheckAsync(fresh, "203.0.113.9", CancellationToken.None);

        Assert.True(fromThatAddress.LockedOut);
        Assert.Equal(TimeSpan.FromMinutes(15), fromThatAddress.RetryAfter);
        Assert.True(fromElsewhere.IsAllowed);
    }

    [Fact]
    public async Task CheckAsync_WaitOfTheAccountOrOnlyOfTheAddress_SaysWhose()
    {
        var throttle = Throttle();
        var failing = NewName();
        await FailAsync(throttle, failing, Address, 4);
        for (var i = 0; i < 10; i++)
        {
            await throttle.RecordFailureAsync(NewName(), "203.0.113.77", CancellationToken.None);
        }

        var accountWaits = await throttle.CheckAsync(failing, "198.51.100.200", CancellationToken.None);
        var onlyAddress = await throttle.CheckAsync(NewName(), "203.0.113.77", CancellationToken.None);
        var both = await throttle.CheckAsync(failing, "203.0.113.77", CancellationToken.None);

        Assert.True(accountWaits.AccountWaits);
        Assert.False(onlyAddress.IsAllowed);
        Assert.False(onlyAddress.AccountWaits);
        Assert.True(both.LockedOut);
        Assert.True(both.AccountWaits);
    }

    [Fact]
    public async Task CheckAsync_HigherAddressLimitsConfigured_AddressAllowedWhereAccountWouldNotBe()
    {
        var throttle = Throttle(new SignInThrottleOptions { AddressFreeFailures = 20, AddressLockoutFailures = 50 });
        for (var i = 0; i < 10; i++)
        {
            await throttle.RecordFailureAsync(NewName(), Address, CancellationToken.None);
        }

        Assert.True((await throttle.CheckAsync(NewName(), Address, CancellationToken.None)).IsAllowed);
    }

    [Fact]
    public async Task ClearAsync_Account_ForgetsItsFailuresButNotTheAddress()
    {
        var throttle = Throttle();
        var account = NewName();
        await FailAsync(throttle, account, Address, 10);

        await throttle.ClearAsync(account, CancellationToken.None);

        Assert.True((await throttle.CheckAsync(account, null, CancellationToken.None)).IsAllowed);
        Assert.True((await throttle.CheckAsync(account, Address, CancellationToken.None)).LockedOut);
    }

    [Fact]
    public async Task SignInAsync_Throttled_RefusedWithoutTryingThePassword()
    {
        var account = NewName();
        await FailAsync(Throttle(), account, Address, 4);

        // LDAP on port 1 is unreachable: trying the password there would give DirectoryUnavailable. (A throttled attempt
        // only asks whether the directory has the account locked, and stays Throttled when it cannot tell.)
        var result = await SignIn(ldapPort: 1).SignInAsync(account.Value, Password, Address, CancellationToken.None);

        var failed = Assert.IsType<SignInResult.Failed>(result);
        Assert.Equal(SignInFailure.Throttled, failed.Failure);
        Assert.Equal(TimeSpan.FromSeconds(2), failed.RetryAfter);
    }

    [Fact]
    public async Task SignInAsync_WrongPasswords_FourthFailureMakesTheNextAttemptWait()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);
        var service = SignIn();
        for (var i = 0; i < 4; i++)
        {
            var wrong = await service.SignInAsync(uid, $"wrong-password-{i}", Address, CancellationToken.None);
            Assert.Equal(SignInFailure.InvalidCredentials, Assert.IsType<SignInResult.Failed>(wrong).Failure);
        }

        var rightButTooSoon = await service.SignInAsync(uid, Password, Address, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(2));
        var rightAfterWaiting = await service.SignInAsync(uid, Password, Address, CancellationToken.None);

        Assert.Equal(SignInFailure.Throttled, Assert.IsType<SignInResult.Failed>(rightButTooSoon).Failure);
        Assert.IsType<SignInResult.Succeeded>(rightAfterWaiting);
    }

    [Fact]
    public async Task SignInAsync_Success_ClearsTheAccountsFailures()
    {
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);
        var service = SignIn();
        for (var i = 0; i < 3; i++)
        {
            await service.SignInAsync(uid, $"wrong-password-{i}", Address, CancellationToken.None);
        }

        Assert.IsType<SignInResult.Succeeded>(await service.SignInAsync(uid, Password, Address, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        Assert.False(await db.SignInFailures.AnyAsync(f => f.Scope == SignInFailureRecord.AccountScope && f.Subject == uid));
        Assert.Equal(3, await db.SignInFailures.CountAsync(f => f.Scope == SignInFailureRecord.AddressScope && f.Subject == Address));
    }

    [Fact]
    public async Task SignInAsync_MissingPassword_NotCountedAsFailure()
    {
        var account = NewName();

        await SignIn(ldapPort: 1).SignInAsync(account.Value, "", Address, CancellationToken.None);

        await using var db = Database.CreateDbContext();
        Assert.False(await db.SignInFailures.AnyAsync());
    }
}
