using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>
/// Start, stop and reconcile as the jobs run them, against real Jupyter processes (the local-process backend) and the
/// real database: convergence, one server per user, GPUs never shared, and recovery after a portal restart.
/// </summary>
public sealed class ServerFlowTests : MigratedDatabaseTest
{
    private ServerServices _services = null!;
    private readonly List<Username> _users = [];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new ServerServices(Database);
    }

    public override async Task DisposeAsync()
    {
        foreach (var user in _users)
        {
            await _services.Backend.StopAsync(new ServerRef("local", user, user.Value), CancellationToken.None);
        }
        _services.Dispose();
        await base.DisposeAsync();
    }

    private Username NewUser()
    {
        var user = Username.Parse(LdapTestUsers.UniqueUsername("srv"));
        _users.Add(user);
        return user;
    }

    private async Task<UserServer> ServerOfAsync(Username user)
    {
        await using var db = Database.CreateDbContext();
        return await db.Servers.AsNoTracking().SingleAsync(s => s.Username == user);
    }

    [Fact]
    public async Task StartThenStop_LocalBackend_ServesHttpThenStopsAndReleasesGpu()
    {
        var user = NewUser();

        Assert.Equal(ServerRequestResult.Requested, await _services.Servers.StartAsync(user, "12.4", "192.0.2.1", CancellationToken.None));
        var server = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.StartPending, server);
        await _services.SettleAsync(server.Id);

        server = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.Running, server);
        using (var http = new HttpClient())
        {
            Assert.True((await http.GetAsync(new Uri(server.Url!))).IsSuccessStatusCode);
        }
        await using (var db = Database.CreateDbContext())
        {
            Assert.Equal([0], await db.GpuAssignments.Where(g => g.ServerId == server.Id).Select(g => g.GpuIndex).ToListAsync());
            var session = await db.ServerSessions.SingleAsync(s => s.ServerId == server.Id);
            Assert.NotNull(session.ReadyAt);
            Assert.Equal(1, session.GpuCount);
        }

        Assert.Equal(ServerRequestResult.Requested, await _services.Servers.StopAsync(user, user.Value, null, CancellationToken.None));
        await _services.SettleAsync(server.Id);

        server = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.Stopped, server);
        Assert.IsType<ServerStatus.Stopped>(await _services.Backend.PollAsync(new ServerRef("local", user, user.Value), CancellationToken.None));
        await using var after = Database.CreateDbContext();
        Assert.False(await after.GpuAssignments.AnyAsync());
        Assert.Equal(SessionOutcome.Stopped, (await after.ServerSessions.SingleAsync()).Outcome);
        Assert.Equal(2, await after.AuditEvents.CountAsync(e => e.Action == "server.start-requested" || e.Action == "server.stop-requested"));
    }

    [Fact]
    public async Task Start_TwentyRapidRequests_ExactlyOneServer()
    {
        var user = NewUser();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            Task.Run(() => _services.Servers.StartAsync(user, null, null, CancellationToken.None))));
        var server = await ServerOfAsync(user);
        // Every request asked for the same server's job; run it as often as it was asked, at once.
        await Task.WhenAll(_services.Jobs.ServerIds.Select(id => Task.Run(() => _services.SettleAsync(id))));

        Assert.Equal(1, results.Count(r => r == ServerRequestResult.Requested));
        Assert.Equal(19, results.Count(r => r == ServerRequestResult.AlreadyRequested));
        ServerAssert.InState(ServerState.Running, await ServerOfAsync(user));
        await using var db = Database.CreateDbContext();
        Assert.Equal(1, await db.ServerSessions.CountAsync(s => s.ServerId == server.Id));
        Assert.Single(JupyterProcessesOf(user));
    }

    [Fact]
    public async Task Stop_WhileStarting_ConvergesToStoppedWithNothingLeft()
    {
        var user = NewUser();
        await _services.Servers.StartAsync(user, null, null, CancellationToken.None);
        var server = await ServerOfAsync(user);

        var starting = Task.Run(() => _services.SettleAsync(server.Id));
        await WaitUntilAsync(async () => (await ServerOfAsync(user)).BackendReference is not null);
        Assert.Equal(ServerRequestResult.Requested, await _services.Servers.StopAsync(user, user.Value, null, CancellationToken.None));
        await starting;
        await _services.SettleAsync(server.Id);

        ServerAssert.InState(ServerState.Stopped, await ServerOfAsync(user));
        Assert.Empty(JupyterProcessesOf(user));
        await using var db = Database.CreateDbContext();
        Assert.False(await db.GpuAssignments.AnyAsync());
    }

    [Fact]
    public async Task PortalKilledMidStart_RestartedPortal_ConvergesWithoutDuplicateOrOrphan()
    {
        var user = NewUser();
        await _services.Servers.StartAsync(user, null, null, CancellationToken.None);
        var server = await ServerOfAsync(user);

        // The first portal starts the process and dies while following its progress.
        using (var killed = new CancellationTokenSource())
        {
            var run = _services.Reconciler.ReconcileAsync(server.Id, killed.Token);
            await WaitUntilAsync(async () => (await ServerOfAsync(user)).BackendReference is not null);
            await killed.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        }
        var firstPid = Assert.Single(JupyterProcessesOf(user));

        _services.Restart();
        await _services.SettleAsync(server.Id);

        ServerAssert.InState(ServerState.Running, await ServerOfAsync(user));
        Assert.Equal(firstPid, Assert.Single(JupyterProcessesOf(user)));
    }

    [Fact]
    public async Task Start_ThirtyClicksOverTwoNodesWithOneGpu_OneRequestedAndNeverNoGpu()
    {
        var gpu = new GpuDevice(0, "GPU-only", "Test GPU", 16384, "550.00");
        // Two portal nodes over one database, one GPU in all: the GPU is free, so no click may be told there is none.
        using var nodeA = new ServerServices(Database, gpus: [gpu]);
        using var nodeB = new ServerServices(Database, gpus: [gpu]);
        // The race is between one click's read of the server and its read of the GPUs; many rounds make it likely.
        for (var round = 0; round < 20; round++)
        {
            var user = NewUser();
            var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(i =>
                Task.Run(() => (i % 2 == 0 ? nodeA : nodeB).Servers.StartAsync(user, null, null, CancellationToken.None))));

            var counts = $"round {round}: " + string.Join(", ", results.GroupBy(r => r).Select(g => $"{g.Key} {g.Count()}"));
            Assert.True(results.Count(r => r == ServerRequestResult.Requested) == 1, counts);
            Assert.True(results.Count(r => r == ServerRequestResult.AlreadyRequested) == 29, counts);
            await using var db = Database.CreateDbContext();
            Assert.Equal([0], await db.GpuAssignments.Select(g => g.GpuIndex).ToListAsync());
            Assert.Equal(1, await db.ServerSessions.CountAsync(s => s.Username == user));
            // No job runs here, so nothing started: free the GPU for the next round's user.
            await db.GpuAssignments.ExecuteDeleteAsync();
        }
    }

    [Fact]
    public async Task Start_NoGpuFree_RefusedAndNothingStarts()
    {
        var first = NewUser();
        var second = NewUser();
        var oneGpu = new ServerServices(Database, gpus: [new GpuDevice(0, "GPU-only", "Test GPU", 16384, "550.00")]);
        try
        {
            Assert.Equal(ServerRequestResult.Requested, await oneGpu.Servers.StartAsync(first, null, null, CancellationToken.None));
            Assert.Equal(ServerRequestResult.NoGpuAvailable, await oneGpu.Servers.StartAsync(second, null, null, CancellationToken.None));

            await using var db = Database.CreateDbContext();
            Assert.False(await db.Servers.AnyAsync(s => s.Username == second && s.Observed != ServerState.Stopped));
            Assert.Single(await db.GpuAssignments.ToListAsync());
        }
        finally
        {
            await oneGpu.SettleAsync((await ServerOfAsync(first)).Id);
            await oneGpu.Servers.StopAsync(first, first.Value, null, CancellationToken.None);
            await oneGpu.SettleAsync((await ServerOfAsync(first)).Id);
            oneGpu.Dispose();
        }
    }

    [Fact]
    public async Task Reconcile_ServerDiedOutside_MarkedStoppedWithReasonAndGpuReleased()
    {
        var user = NewUser();
        await _services.Servers.StartAsync(user, null, null, CancellationToken.None);
        var server = await ServerOfAsync(user);
        await _services.SettleAsync(server.Id);
        var pid = Assert.Single(JupyterProcessesOf(user));

        System.Diagnostics.Process.GetProcessById(pid).Kill(entireProcessTree: true);
        await WaitUntilAsync(() => Task.FromResult(JupyterProcessesOf(user).Count == 0));
        await _services.SettleAsync(server.Id);

        server = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.Stopped, server);
        Assert.False(string.IsNullOrEmpty(server.FailureReason));
        await using var db = Database.CreateDbContext();
        Assert.False(await db.GpuAssignments.AnyAsync());
    }

    [Fact]
    public async Task Start_JupyterCannotStart_FailedWithReasonAndNothingHeld()
    {
        var user = NewUser();
        var broken = new ServerServices(Database, jupyterCommand: "/bin/false");
        try
        {
            await broken.Servers.StartAsync(user, null, null, CancellationToken.None);
            var server = await ServerOfAsync(user);

            await broken.SettleAsync(server.Id);

            server = await ServerOfAsync(user);
            ServerAssert.InState(ServerState.Failed, server);
            Assert.False(string.IsNullOrEmpty(server.FailureReason));
            await using var db = Database.CreateDbContext();
            Assert.False(await db.GpuAssignments.AnyAsync());
            Assert.Equal(SessionOutcome.Failed, (await db.ServerSessions.SingleAsync()).Outcome);
        }
        finally
        {
            broken.Dispose();
        }
    }

    [Fact]
    public async Task CullIdle_PastWarningThenPastLimit_WarnsThenStops()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var user = NewUser();
        var timed = new ServerServices(Database, clock: clock);
        try
        {
            await timed.Servers.StartAsync(user, null, null, CancellationToken.None);
            var server = await ServerOfAsync(user);
            await timed.SettleAsync(server.Id);

            clock.Advance(TimeSpan.FromMinutes(115));
            Assert.Equal(0, await timed.Servers.CullIdleAsync(CancellationToken.None));
            Assert.NotNull((await ServerOfAsync(user)).IdleWarnedAt);

            Assert.True(await timed.Servers.KeepRunningAsync(user, CancellationToken.None));
            Assert.Null((await ServerOfAsync(user)).IdleWarnedAt);

            clock.Advance(TimeSpan.FromMinutes(121));
            Assert.Equal(1, await timed.Servers.CullIdleAsync(CancellationToken.None));
            await timed.SettleAsync(server.Id);
            ServerAssert.InState(ServerState.Stopped, await ServerOfAsync(user));
        }
        finally
        {
            await timed.Backend.StopAsync(new ServerRef("local", user, user.Value), CancellationToken.None);
            timed.Dispose();
        }
    }

    [Fact]
    public async Task SwitchToolkit_RunningServer_EndsRunningWithTheNewToolkitOnTheSameGpu()
    {
        var user = NewUser();
        await _services.Servers.StartAsync(user, "12.4", null, CancellationToken.None);
        var server = await ServerOfAsync(user);
        await _services.SettleAsync(server.Id);
        var before = Assert.Single(JupyterProcessesOf(user));
        Assert.Equal("12.4", Environment(before)["CUDA_VERSION"]);

        Assert.Equal(ServerRequestResult.Requested, await _services.Servers.SwitchToolkitAsync(user, "11.8", null, CancellationToken.None));
        ServerAssert.InState(ServerState.StopPending, await ServerOfAsync(user));
        await _services.SettleAsync(server.Id);

        server = await ServerOfAsync(user);
        ServerAssert.InState(ServerState.Running, server);
        Assert.Equal("11.8", server.CudaToolkit);
        var after = Assert.Single(JupyterProcessesOf(user));
        Assert.NotEqual(before, after);
        var environment = Environment(after);
        Assert.Equal("11.8", environment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-11.8", environment["CUDA_HOME"]);
        Assert.Equal("0", environment["CUDA_VISIBLE_DEVICES"]);
        await using var db = Database.CreateDbContext();
        Assert.Equal(2, await db.ServerSessions.CountAsync(s => s.ServerId == server.Id));
        Assert.Equal([0], await db.GpuAssignments.Where(g => g.ServerId == server.Id).Select(g => g.GpuIndex).ToListAsync());
    }

    [Theory]
    [InlineData("99.9")]
    [InlineData("12.4; rm -rf /")]
    [InlineData("")]
    public async Task SwitchToolkit_NotInCatalog_RefusedAndNothingChanges(string version)
    {
        var user = NewUser();

        Assert.Equal(ServerRequestResult.ToolkitRefused, await _services.Servers.SwitchToolkitAsync(user, version, null, CancellationToken.None));
        Assert.Equal(ServerRequestResult.ToolkitRefused, await _services.Servers.StartAsync(user, version, null, CancellationToken.None));

        await using var db = Database.CreateDbContext();
        Assert.False(await db.Servers.AnyAsync(s => s.Username == user && s.CudaToolkit != null));
        Assert.False(await db.ServerSessions.AnyAsync(s => s.Username == user));
    }

    [Fact]
    public async Task SwitchToolkit_DriverTooOldForIt_RefusedWithTheOlderOneAllowed()
    {
        var user = NewUser();
        var oldDriver = new ServerServices(Database, gpus: [new GpuDevice(0, "GPU-old", "Test GPU", 16384, "525.60.13")]);
        try
        {
            var choices = await oldDriver.Catalog.ChoicesAsync("local", CancellationToken.None);

            Assert.Equal(ToolkitRefusal.DriverTooOld, choices.Single(c => c.Toolkit.Version == "12.4").Refusal);
            Assert.Null(choices.Single(c => c.Toolkit.Version == "11.8").Refusal);
            Assert.Equal(ServerRequestResult.ToolkitRefused, await oldDriver.Servers.SwitchToolkitAsync(user, "12.4", null, CancellationToken.None));
            Assert.Equal(ServerRequestResult.Requested, await oldDriver.Servers.SwitchToolkitAsync(user, "11.8", null, CancellationToken.None));
        }
        finally
        {
            oldDriver.Dispose();
        }
    }

    private static Dictionary<string, string> Environment(int pid) =>
        File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('=', 2)).Where(kv => kv.Length == 2).GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.First()[1]);

    /// <summary>PIDs of running jupyter-notebook processes whose HOME is this user's folder.</summary>
    private List<int> JupyterProcessesOf(Username user)
    {
        var home = Path.Combine(_services.Root, "homes", user.Value);
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var state = stat[(stat.LastIndexOf(')') + 2)..][0];
                var environ = File.ReadAllText(Path.Combine(dir, "environ"));
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (state != 'Z' && cmdline.Contains("jupyter", StringComparison.Ordinal) && environ.Split('\0').Contains($"HOME={home}"))
                {
                    pids.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }
        return pids;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not become true in time.");
            }
            await Task.Delay(50);
        }
    }
}
