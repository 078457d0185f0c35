using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>The portal's jobs driving the real test JupyterHub: convergence, one server per user, restarts, a throttled hub.</summary>
public sealed class HubServerFlowTests(HubFixture hub) : MigratedDatabaseTest, IClassFixture<HubFixture>
{
    private ServerServices _services = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new ServerServices(Database, backendFactory: () => hub.Backend());
    }

    public override async Task DisposeAsync()
    {
        _services.Dispose();
        await base.DisposeAsync();
    }

    private async Task<UserServer> ServerOfAsync(Username user)
    {
        await using var db = Database.CreateDbContext();
        return await db.Servers.AsNoTracking().SingleAsync(s => s.Username == user);
    }

    [Fact]
    public async Task StartThenStop_ThroughTheHub_ServesHttpAndStops()
    {
        var user = Username.Parse(hub.NewUser());

        await _services.Servers.StartAsync(user, "12.4", null, CancellationToken.None);
        var server = await ServerOfAsync(user);
        await _services.SettleAsync(server.Id);

        server = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.Running, server);
        Assert.Equal("jupyterhub", server.Backend);
        using (var http = new HttpClient())
        {
            Assert.True((await http.GetAsync(new Uri(server.Url!))).IsSuccessStatusCode);
        }
        var pid = await HubFixture.ServerPidAsync(user.Value);
        Assert.Equal("12.4", HubFixture.ProcessEnvironment(pid!.Value)["CUDA_VERSION"]);

        await _services.Servers.StopAsync(user, user.Value, null, CancellationToken.None);
        await _services.SettleAsync(server.Id);

        ServerAssert.InState(ServerState.Stopped, await ServerOfAsync(user));
        Assert.Empty(await HubFixture.ServerNamesAsync(user.Value));
    }

    [Fact]
    public async Task SwitchToolkit_RunningOnTheHub_EndsRunningWithTheNewToolkit()
    {
        var user = Username.Parse(hub.NewUser());
        await _services.Servers.StartAsync(user, "12.4", null, CancellationToken.None);
        var server = await ServerOfAsync(user);
        await _services.SettleAsync(server.Id);

        await _services.Servers.SwitchToolkitAsync(user, "11.8", null, CancellationToken.None);
        await _services.SettleAsync(server.Id);

        var switched = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.Running, switched);
        Assert.Equal("11.8", switched.CudaToolkit);
        var pid = await HubFixture.ServerPidAsync(user.Value);
        Assert.Equal("11.8", HubFixture.ProcessEnvironment(pid!.Value)["CUDA_VERSION"]);
        await _services.Servers.StopAsync(user, user.Value, null, CancellationToken.None);
        await _services.SettleAsync(server.Id);
    }

    [Fact]
    public async Task Start_TwentyRapidRequestsThroughTheHub_ExactlyOneServer()
    {
        var user = Username.Parse(hub.NewUser());

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => _services.Servers.StartAsync(user, null, null, CancellationToken.None))));
        await Task.WhenAll(_services.Jobs.ServerIds.Select(id => Task.Run(() => _services.SettleAsync(id))));

        Assert.Equal(1, results.Count(r => r == ServerRequestResult.Requested));
        ServerAssert.InState(ServerState.Running, await ServerOfAsync(user));
        Assert.Single(await HubFixture.ServerNamesAsync(user.Value));
        await _services.Servers.StopAsync(user, user.Value, null, CancellationToken.None);
        await _services.SettleAsync((await ServerOfAsync(user)).Id);
    }

    [Fact]
    public async Task PortalKilledMidStart_RestartedPortal_SameHubServer()
    {
        var user = Username.Parse(hub.NewUser());
        await _services.Servers.StartAsync(user, null, null, CancellationToken.None);
        var server = await ServerOfAsync(user);

        using (var killed = new CancellationTokenSource())
        {
            var run = _services.Reconciler.ReconcileAsync(server.Id, killed.Token);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await ServerOfAsync(user)).BackendReference is null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
            await killed.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        }

        _services.Restart();
        await _services.SettleAsync(server.Id);

        ServerAssert.InState(ServerState.Running, await ServerOfAsync(user));
        Assert.Single(await HubFixture.ServerNamesAsync(user.Value));
        await _services.Servers.StopAsync(user, user.Value, null, CancellationToken.None);
        await _services.SettleAsync(server.Id);
        Assert.Empty(await HubFixture.ServerNamesAsync(user.Value));
    }

    [Fact]
    public async Task TwoUsersAtOnce_HubWithSpawnLimitOne_BothEndRunning()
    {
        await hub.StartLimitedHubAsync();
        var limited = new ServerServices(Database, backendFactory: () => hub.Backend(HubFixture.LimitedBaseUrl));
        try
        {
            var users = new[] { Username.Parse(hub.NewUser(HubFixture.LimitedBaseUrl)), Username.Parse(hub.NewUser(HubFixture.LimitedBaseUrl)) };
            foreach (var user in users)
            {
                await limited.Servers.StartAsync(user, null, null, CancellationToken.None);
            }

            await Task.WhenAll(limited.Jobs.ServerIds.Distinct().Select(id => Task.Run(() => limited.SettleAsync(id))));

            foreach (var user in users)
            {
                ServerAssert.InState(ServerState.Running, await ServerOfAsync(user));
                await limited.Servers.StopAsync(user, user.Value, null, CancellationToken.None);
                await limited.SettleAsync((await ServerOfAsync(user)).Id);
            }
        }
        finally
        {
            limited.Dispose();
        }
    }
}
