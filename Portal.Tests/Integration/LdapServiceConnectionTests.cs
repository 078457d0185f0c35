using System.ComponentModel.DataAnnotations;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Directory;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// The kept service-account connections (docs/decisions/0016-ldap-service-connections.md) against the real slapd of the
/// test profile, reached through <see cref="DroppingTcpProxy"/>, which counts the connections and can close them.
/// </summary>
public sealed class LdapServiceConnectionTests
{
    private const string Password = "Correct-horse-battery-9";
    private const int PoolSize = 4;

    /// <summary>How long a test waits for what the proxy sees after a close (on loopback it takes milliseconds).</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static Username Admin => Username.Parse(TestEnvironment.Current.AdminUsername);

    private static LdapDirectory Directory(int port, int poolSize)
    {
        var options = LdapTestUsers.Options(port);
        options.ServiceConnectionPoolSize = poolSize;
        return LdapTestUsers.Directory(options);
    }

    [Fact]
    public async Task FindUserAsync_TwentyInSequence_OpenAtMostPoolSizeConnections()
    {
        await using var proxy = new DroppingTcpProxy(TestEnvironment.Current.LdapPort, drop: 0);
        using var directory = Directory(proxy.Port, PoolSize);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(Role.Admin, (await directory.FindUserAsync(Admin, CancellationToken.None))?.Role);
        }

        // A connection slapd drops while it is set up is replaced at once (ADR 0014 addendum); nothing else is opened.
        Assert.InRange(proxy.Accepted, 1, PoolSize + proxy.ClosedByServer);
    }

    [Fact]
    public async Task FindUserAsync_ThirtyTwoInParallel_AllSucceedWithinPoolSize()
    {
        await using var proxy = new DroppingTcpProxy(TestEnvironment.Current.LdapPort, drop: 0);
        using var directory = Directory(proxy.Port, PoolSize);

        var users = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => directory.FindUserAsync(Admin, CancellationToken.None)));

        Assert.All(users, user => Assert.Equal(Role.Admin, user?.Role));
        // Each connection slapd dropped (while it was set up, under load) may be counted once beside its replacement.
        Assert.InRange(proxy.MaxOpen, 1, PoolSize + proxy.ClosedByServer);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FindUserAsync_KeptConnectionClosedMeanwhile_SucceedsOnNewConnection(bool reset)
    {
        await using var proxy = new DroppingTcpProxy(TestEnvironment.Current.LdapPort, drop: 0);
        using var directory = Directory(proxy.Port, PoolSize);
        await directory.FindUserAsync(Admin, CancellationToken.None);
        var accepted = proxy.Accepted;

        // A reset is a dead path or a killed slapd; an orderly close is slapd's idle timeout or a restart.
        proxy.CloseOpenConnections(reset);
        Assert.True(await EventuallyAsync(() => proxy.Open == 0), "the proxy still forwards a connection");
        var user = await directory.FindUserAsync(Admin, CancellationToken.None);

        Assert.Equal(Role.Admin, user?.Role);
        Assert.Equal(accepted + 1, proxy.Accepted);
    }

    [Fact]
    public async Task FindUserAsync_KeptConnectionClosedAndServerDown_UnavailableAfterOneNewConnectionThenRecovers()
    {
        await using var proxy = new DroppingTcpProxy(TestEnvironment.Current.LdapPort, drop: 0);
        using var directory = Directory(proxy.Port, poolSize: 1);
        await directory.FindUserAsync(Admin, CancellationToken.None);
        var accepted = proxy.Accepted;

        proxy.DropNewConnections();
        proxy.CloseOpenConnections(reset: true);
        Assert.True(await EventuallyAsync(() => proxy.Open == 0), "the proxy still forwards a connection");
        await Assert.ThrowsAsync<DirectoryUnavailableException>(() => directory.FindUserAsync(Admin, CancellationToken.None));
        // One new connection in place of the kept one, set up at most three times (ConnectAttempts), and no more.
        Assert.Equal(accepted + 3, proxy.Accepted);

        proxy.ForwardNewConnections();
        // With a pool of one, this passes only if the failed operation gave its slot back and kept no broken connection.
        Assert.Equal(Role.Admin, (await directory.FindUserAsync(Admin, CancellationToken.None))?.Role);
    }

    [Fact]
    public async Task AuthenticateAsync_PersonSignedIn_KeptConnectionStillActsAsServiceAccount()
    {
        var env = TestEnvironment.Current;
        var person = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(person, Password);
        var other = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(other, Password, mustChangePassword: true);
        await using var proxy = new DroppingTcpProxy(env.LdapPort, drop: 0);
        // One kept connection: the sign-in's look-ups and everything after run on the same one.
        using var directory = Directory(proxy.Port, poolSize: 1);

        var outcome = await directory.AuthenticateAsync(Username.Parse(person), Password, CancellationToken.None);
        var identity = await directory.ServiceIdentityAsync(CancellationToken.None);
        // Another person's pwdReset is readable by the service account alone (scripts/ldap/slapd.ldif.tmpl, olcAccess {1}).
        var otherUser = await directory.FindUserAsync(Username.Parse(other), CancellationToken.None);

        Assert.IsType<DirectoryAuthentication.Succeeded>(outcome);
        Assert.Equal($"dn:{env.LdapServiceDn}", identity, ignoreCase: true);
        Assert.True(otherUser?.MustChangePassword);
        // The service connection, kept and reused, and the person's own, closed after its bind.
        Assert.Equal(2, proxy.Accepted);
        Assert.True(await EventuallyAsync(() => proxy.Open == 1), $"{proxy.Open} connections open, expected the kept one only");
    }

    [Fact]
    public async Task ChangePasswordAsync_AsThePerson_KeptConnectionStillActsAsServiceAccount()
    {
        var env = TestEnvironment.Current;
        var person = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(person, Password);
        await using var proxy = new DroppingTcpProxy(env.LdapPort, drop: 0);
        using var directory = Directory(proxy.Port, poolSize: 1);

        var outcome = await directory.ChangePasswordAsync(Username.Parse(person), Password, "Violet river under the moon", CancellationToken.None);
        var identity = await directory.ServiceIdentityAsync(CancellationToken.None);

        Assert.IsType<PasswordChangeOutcome.Changed>(outcome);
        Assert.Equal($"dn:{env.LdapServiceDn}", identity, ignoreCase: true);
        Assert.Equal(2, proxy.Accepted);
        Assert.True(await EventuallyAsync(() => proxy.Open == 1), $"{proxy.Open} connections open, expected the kept one only");
    }

    [Fact]
    public async Task AuthenticateAsync_SignInsInParallelWithServiceOperations_EveryServiceOperationActsAsServiceAccount()
    {
        var env = TestEnvironment.Current;
        var person = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(person, Password);
        await using var proxy = new DroppingTcpProxy(env.LdapPort, drop: 0);
        using var directory = Directory(proxy.Port, poolSize: 2);

        // Each worker asks as the service account right after its own sign-in, so kept connections pass between
        // sign-ins and service operations in every order the pool allows.
        var identities = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var seen = new List<string>();
            for (var round = 0; round < 4; round++)
            {
                Assert.IsType<DirectoryAuthentication.Succeeded>(
                    await directory.AuthenticateAsync(Username.Parse(person), Password, CancellationToken.None));
                seen.Add(await directory.ServiceIdentityAsync(CancellationToken.None));
            }
            return seen;
        }));

        Assert.All(identities.SelectMany(seen => seen), identity => Assert.Equal($"dn:{env.LdapServiceDn}", identity, ignoreCase: true));
    }

    [Fact]
    public async Task SetInitialPasswordAsync_RepeatedWithTheSamePassword_SucceedsAndSignsInWithIt()
    {
        // What a retry on a new connection does when the first try was applied but its answer lost.
        var person = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(person, Password);
        using var directory = LdapTestUsers.Directory();
        const string initial = "Initial-password-for-retry-7";

        await directory.SetInitialPasswordAsync(Username.Parse(person), initial, CancellationToken.None);
        await directory.SetInitialPasswordAsync(Username.Parse(person), initial, CancellationToken.None);
        var outcome = await directory.AuthenticateAsync(Username.Parse(person), initial, CancellationToken.None);

        Assert.True(Assert.IsType<DirectoryAuthentication.Succeeded>(outcome).User.MustChangePassword);
    }

    [Fact]
    public async Task Dispose_WithKeptConnection_ClosesItAndRefusesLaterCalls()
    {
        await using var proxy = new DroppingTcpProxy(TestEnvironment.Current.LdapPort, drop: 0);
        var directory = Directory(proxy.Port, PoolSize);
        await directory.FindUserAsync(Admin, CancellationToken.None);
        Assert.Equal(1, proxy.Open);

        directory.Dispose();

        Assert.True(await EventuallyAsync(() => proxy.Open == 0), "the kept connection is still open");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => directory.FindUserAsync(Admin, CancellationToken.None));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(-1, false)]
    [InlineData(1, true)]
    [InlineData(8, true)]
    public void LdapOptions_ServiceConnectionPoolSize_ValidOnlyFromOne(int size, bool valid)
    {
        var options = new LdapOptions { ServiceDn = "uid=svc,dc=example,dc=org", ServicePassword = "secret", ServiceConnectionPoolSize = size };

        var ok = Validator.TryValidateObject(options, new ValidationContext(options), [], validateAllProperties: true);

        Assert.Equal(valid, ok);
    }

    [Fact]
    public void LdapOptions_Default_KeepsEightServiceConnections() =>
        Assert.Equal(8, new LdapOptions().ServiceConnectionPoolSize);

    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
        return true;
    }
}
