using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers.Slurm;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>
/// The Slurm backend against the real test cluster (Slurm 22.05 from Debian: munged, slurmctld and slurmd on one node
/// <c>localhost</c>) running Debian's classic Notebook 6.4 as batch jobs; each test has users, a state directory and
/// homes of its own.
/// </summary>
public sealed class SlurmBackendTests(SlurmFixture slurm) : IClassFixture<SlurmFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly GpuDevice[] OneGpu = [new(1, "GPU-11111111-1111-1111-1111-111111111111", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15")];

    private static readonly string[] AllowedEnvironment =
    [
        "PATH", "HOME", "SHELL", "LANG", "PWD", "OLDPWD", "SHLVL", "HOSTNAME", "ENVIRONMENT", "TMPDIR", "PYTHONUNBUFFERED",
        "CUDA_VISIBLE_DEVICES", "CUDA_VERSION", "CUDA_HOME", "LD_LIBRARY_PATH", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES",
        "ZE_AFFINITY_MASK", "PORTAL_GPUS",
        "JUPYTER_RUNTIME_DIR", "JUPYTER_TOKEN_FILE", "SLURMD_NODENAME", "SLURM_TIME_FORMAT",
    ];

    private readonly string _root = Directory.CreateTempSubdirectory("portal-slurm-").FullName;
    private readonly List<SlurmBackend> _backends = [];
    private readonly List<(SlurmBackend Backend, Username User)> _started = [];
    private IAsyncDisposable? _node;

    public async Task InitializeAsync() => _node = await SlurmFixture.HoldNodeAsync();

    [Fact]
    public async Task StartAsync_FreshUser_JobWithQuotaServesJupyterAndStopRemovesIt()
    {
        var backend = Backend(walltimeMinutes: 30);
        var user = NewUser(backend);
        var spec = Spec(user, "12.4", OneGpu, cpus: 2, memoryGiB: 1) with { CudaProvision = "/opt/cuda/12.4" };

        var started = await backend.StartAsync(spec, CancellationToken.None);

        var server = Assert.IsType<StartResult.Pending>(started).Server;
        Assert.Equal("slurm", server.Backend);
        Assert.Matches(@"^\d+$", server.Reference);
        var progress = await ProgressAsync(backend, server);
        var ready = progress[^1];
        Assert.True(ready.Ready, Describe(progress));
        Assert.Equal(100, ready.Percent);
        Assert.All(progress[..^1], p => Assert.False(p.Ready || p.Failed));
        Assert.Equal("localhost", ready.Url!.Host);
        Assert.InRange(ready.Url.Port, SlurmFixture.PortRangeStart, SlurmFixture.PortRangeEnd);
        Assert.StartsWith("?token=", ready.Url.Query, StringComparison.Ordinal);
        var running = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Equal(ready.Url, running.Url);
        Assert.NotNull(running.LastActivity);
        Assert.True(Assert.Single(await ProgressAsync(backend, server)).Ready);
        var again = Assert.IsType<StartResult.Ready>(await backend.StartAsync(spec, CancellationToken.None));
        Assert.Equal(server, again.Server);
        Assert.Equal(running.Url, again.Url);

        using var http = Http();
        using var tree = await http.GetAsync(running.Url);
        Assert.Equal(HttpStatusCode.OK, tree.StatusCode);
        Assert.EndsWith("/tree", tree.RequestMessage!.RequestUri!.AbsolutePath, StringComparison.Ordinal);
        Assert.Contains("id=\"notebook_list\"", await tree.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var job = await SlurmFixture.ShowJobAsync(server.Reference);
        Assert.Equal("RUNNING", job["JobState"]);
        Assert.Equal($"portal-{user}", job["JobName"]);
        Assert.Equal($"portal-server:{spec.ServerId:D}", job["Comment"]);
        Assert.Equal("2", job["NumCPUs"]);
        Assert.Equal("2", job["CPUs/Task"]);
        Assert.Equal("1G", job["MinMemoryNode"]);
        Assert.Equal("gres:gpu:1", job["TresPerNode"]);
        Assert.Equal("00:30:00", job["TimeLimit"]);
        Assert.Equal("localhost", job["BatchHost"]);

        var pid = EndpointPid(user);
        var environment = ProcessEnvironment(pid);
        Assert.Equal("12.4", environment["CUDA_VERSION"]);
        Assert.Equal("/opt/cuda/12.4", environment["CUDA_HOME"]);
        Assert.StartsWith("/opt/cuda/12.4/bin:", environment["PATH"], StringComparison.Ordinal);
        // The GPU Slurm bound to the job; the portal's choice is passed on beside it.
        Assert.Equal(environment["SLURM_JOB_GPUS"], environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal("1", environment["PORTAL_GPUS"]);
        Assert.Equal(server.Reference, environment["SLURM_JOB_ID"]);
        Assert.Equal(Path.Combine(_root, "homes", user.Value), environment["HOME"]);
        // Nothing of the portal's own environment (connection strings, passwords) reaches the job.
        Assert.All(environment.Keys, key => Assert.True(key.StartsWith("SLURM_", StringComparison.Ordinal) || AllowedEnvironment.Contains(key), key));
        var token = running.Url.Query["?token=".Length..];
        Assert.DoesNotContain(environment.Values, v => v.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(CommandLine(pid), a => a.Contains(token, StringComparison.Ordinal));
        Assert.Contains($"--notebook-dir={Path.Combine(_root, "homes", user.Value)}", CommandLine(pid));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_root, "state", $"{user}.token")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_root, "state", $"{user}.log")));

        var tunnel = backend.Tunnel(server, "login.example.ac.jp");
        Assert.NotNull(tunnel);
        Assert.Equal($"ssh -N -L {ready.Url.Port}:localhost:{ready.Url.Port} {user}@login.example.ac.jp", tunnel.Command);
        Assert.Equal(new Uri($"http://localhost:{ready.Url.Port}/?token={token}"), tunnel.LocalUrl);

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
        var stopped = Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.StartsWith($"Slurm job {server.Reference} ", stopped.Reason, StringComparison.Ordinal);
        Assert.True(await EventuallyAsync(() => Task.FromResult(!ProcessAlive(pid))), $"Jupyter (pid {pid}) ended");
        Assert.Null(backend.Tunnel(server, "login.example.ac.jp"));
    }

    [Fact]
    public async Task StartAsync_NoGpusToolkitFromModuleWithoutModuleCommand_NoGresAndDefaultCudaHome()
    {
        var backend = Backend();
        var user = NewUser(backend);
        var spec = Spec(user, "12.1", [], cpus: 0.5m, memoryGiB: 1) with { CudaProvision = "module:cuda/12.1" };

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(spec, CancellationToken.None)).Server;

        var progress = await ProgressAsync(backend, server);
        Assert.True(progress[^1].Ready, Describe(progress));
        var job = await SlurmFixture.ShowJobAsync(server.Reference);
        Assert.Equal("1", job["CPUs/Task"]);
        Assert.False(job.ContainsKey("TresPerNode"), string.Join(' ', job.Keys));
        var environment = ProcessEnvironment(EndpointPid(user));
        Assert.Equal("", environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal("", environment["PORTAL_GPUS"]);
        Assert.Equal("12.1", environment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-12.1", environment["CUDA_HOME"]);
        Assert.Contains("portal: no 'module' command on ", await File.ReadAllTextAsync(Path.Combine(_root, "state", $"{user}.log")),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_RetriedAfterCrashBetweenSubmitAndRecord_AdoptsTheOneJob()
    {
        var first = Backend();
        var user = NewUser(first);
        var spec = Spec(user, null, OneGpu);
        var submitted = Assert.IsType<StartResult.Pending>(await first.StartAsync(spec, CancellationToken.None)).Server;

        // The portal crashed before it recorded the job id: a new instance starts again, many times at once.
        var restarted = Backend();
        var again = await Task.WhenAll(Enumerable.Range(0, 6)
            .Select(i => Task.Run(() => (i % 2 == 0 ? restarted : first).StartAsync(spec, CancellationToken.None))));

        Assert.All(again, r => Assert.Equal(submitted, r switch
        {
            StartResult.Pending p => p.Server,
            StartResult.Ready r2 => r2.Server,
            _ => throw new InvalidOperationException($"unexpected {r}"),
        }));
        Assert.Equal([submitted.Reference], await SlurmFixture.LiveJobsAsync($"portal-{user}"));

        await restarted.StopAsync(submitted, CancellationToken.None);

        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
        Assert.IsType<ServerStatus.Stopped>(await first.PollAsync(submitted, CancellationToken.None));
    }

    [Fact]
    public async Task StartAsync_JobOfAnotherServerRecord_CancelsItAndSubmitsOne()
    {
        var backend = Backend();
        var user = NewUser(backend);
        var old = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, []), CancellationToken.None)).Server;

        var replaced = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, []), CancellationToken.None)).Server;

        Assert.NotEqual(old.Reference, replaced.Reference);
        Assert.Equal([replaced.Reference], await SlurmFixture.LiveJobsAsync($"portal-{user}"));
        Assert.Equal("CANCELLED", await SlurmFixture.JobStateAsync(old.Reference));
    }

    [Fact]
    public async Task ProgressAsync_QueuedBehindAnotherJob_ReportsPositionAndExpectedStartThenReady()
    {
        var blocker = await slurm.SubmitGpuBlockerAsync();
        Assert.True(await EventuallyAsync(async () => await SlurmFixture.JobStateAsync(blocker) == "RUNNING"), "the blocker runs");
        var backend = Backend();
        var user = NewUser(backend);
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, OneGpu), CancellationToken.None)).Server;

        // Right after the submission the scheduler has not looked at the job yet (reason None).
        ServerStatus polled = new ServerStatus.Stopped(null);
        Assert.True(await EventuallyAsync(async () =>
            (polled = await backend.PollAsync(server, CancellationToken.None)) is ServerStatus.Starting { Message: { } m }
            && m.Contains("waiting for Resources", StringComparison.Ordinal)), polled.ToString());
        var events = new List<ProgressEvent>();
        using var timeout = new CancellationTokenSource(Timeout);
        await foreach (var progress in backend.ProgressAsync(server, timeout.Token))
        {
            events.Add(progress);
            if (progress.Message.Contains("expected start 20", StringComparison.Ordinal) && await SlurmFixture.JobStateAsync(blocker) == "RUNNING")
            {
                await SlurmFixture.RunAsync("scancel", blocker);
            }
        }

        var starting = Assert.IsType<ServerStatus.Starting>(polled);
        Assert.Matches(@"^Queued in partition portal, position 1, expected start (20\d\d-\d\d-\d\d \d\d:\d\d:\d\d|not known yet) \(Slurm job \d+, waiting for Resources\)\.$",
            starting.Message);
        Assert.Equal(30, starting.Percent);
        var queued = events.Where(e => e.Message.StartsWith("Queued", StringComparison.Ordinal)).ToList();
        Assert.Contains(queued, e => e.Message.Contains(", expected start 20", StringComparison.Ordinal));
        Assert.All(queued, e => Assert.InRange(e.Percent, 10, 30));
        Assert.True(events[^1].Ready, Describe(events));
        Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None));
    }

    [Fact]
    public async Task StopAsync_WhilePending_CancelsJobAndProgressEnds()
    {
        var blocker = await slurm.SubmitGpuBlockerAsync();
        Assert.True(await EventuallyAsync(async () => await SlurmFixture.JobStateAsync(blocker) == "RUNNING"), "the blocker runs");
        var backend = Backend();
        var user = NewUser(backend);
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, OneGpu), CancellationToken.None)).Server;
        Assert.Equal("PENDING", await SlurmFixture.JobStateAsync(server.Reference));

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
        Assert.Equal("CANCELLED", await SlurmFixture.JobStateAsync(server.Reference));
        var stopped = Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.StartsWith($"Slurm job {server.Reference} ended: CANCELLED", stopped.Reason, StringComparison.Ordinal);
        Assert.True(Assert.Single(await ProgressAsync(backend, server)).Failed);
        await SlurmFixture.RunAsync("scancel", blocker);
    }

    [Fact]
    public async Task PollAsync_QueuedLongerThanStartTimeout_FailedAndProgressFails()
    {
        var blocker = await slurm.SubmitGpuBlockerAsync();
        Assert.True(await EventuallyAsync(async () => await SlurmFixture.JobStateAsync(blocker) == "RUNNING"), "the blocker runs");
        var backend = Backend(startTimeoutSeconds: 1);
        var user = NewUser(backend);
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, OneGpu), CancellationToken.None)).Server;

        var last = (await ProgressAsync(backend, server))[^1];

        Assert.True(last.Failed, last.Message);
        var timedOut = $"Slurm job {server.Reference} was not ready within 1 s (PENDING, reason ";
        Assert.StartsWith(timedOut, last.Message, StringComparison.Ordinal);
        // The same failure when polled; Slurm's pending reason itself may have moved on between the two reads (None
        // until the scheduler has looked at the job, Resources after).
        Assert.StartsWith(timedOut, Assert.IsType<ServerStatus.Failed>(await backend.PollAsync(server, CancellationToken.None)).Reason, StringComparison.Ordinal);
        Assert.Equal("PENDING", await SlurmFixture.JobStateAsync(server.Reference)); // the reconciler stops it
        await backend.StopAsync(server, CancellationToken.None);
        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
        await SlurmFixture.RunAsync("scancel", blocker);
    }

    [Fact]
    public async Task StopAsync_UnknownJobOrUnrecordedStart_SucceedsAndPollSaysStopped()
    {
        var backend = Backend();
        var user = NewUser(backend);
        var unknown = new ServerRef("slurm", user, "999999");
        var unrecorded = new ServerRef("slurm", user, user.Value);

        await backend.StopAsync(unknown, CancellationToken.None);
        await backend.StopAsync(unrecorded, CancellationToken.None);

        Assert.Equal("Slurm job 999999 is no longer known.",
            Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(unknown, CancellationToken.None)).Reason);
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(unrecorded, CancellationToken.None));
        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
    }

    [Fact]
    public async Task StopAsync_ReferenceWithoutJobId_CancelsTheUsersJob()
    {
        var backend = Backend();
        var user = NewUser(backend);
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, []), CancellationToken.None)).Server;

        // A stop before the start was recorded only knows the user.
        await backend.StopAsync(new ServerRef("slurm", user, user.Value), CancellationToken.None);

        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
    }

    [Fact]
    public async Task StartAsync_JupyterExitsAtOnce_ProgressFailsWithExitCodeAndLogAndPollStopped()
    {
        var script = Path.Combine(_root, "failing-jupyter");
        await File.WriteAllTextAsync(script, """
            #!/bin/sh
            echo "token is $(cat "$JUPYTER_TOKEN_FILE")"
            echo "boom: cannot bind" >&2
            exit 3

            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var backend = Backend(jupyterCommand: script);
        var user = NewUser(backend);

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, []), CancellationToken.None)).Server;

        var last = (await ProgressAsync(backend, server))[^1];
        Assert.True(last.Failed, last.Message);
        Assert.StartsWith($"Slurm job {server.Reference} ended: FAILED (exit code 3, NonZeroExitCode).", last.Message, StringComparison.Ordinal);
        Assert.Contains("boom: cannot bind", last.Message, StringComparison.Ordinal);
        Assert.Matches(@"token is …(\n|$)", last.Message);
        var stopped = Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Equal($"Slurm job {server.Reference} ended: FAILED (exit code 3, NonZeroExitCode).", stopped.Reason);
    }

    [Fact]
    public async Task StartAsync_MoreGpusThanTheNodeHasOrBadToolkit_RefusedWithoutJob()
    {
        var backend = Backend();
        var user = NewUser(backend);
        var eightGpus = Spec(user, null, []) with { Limits = new ResourceLimits(1, 1, 10, 8, null) };

        var tooMany = await backend.StartAsync(eightGpus, CancellationToken.None);
        var badToolkit = await backend.StartAsync(Spec(user, "12.4; rm -rf /", []), CancellationToken.None);
        var badProvision = await backend.StartAsync(Spec(user, "12.4", []) with { CudaProvision = "$(reboot)" }, CancellationToken.None);

        Assert.Contains("Requested node configuration is not available", Assert.IsType<StartResult.Refused>(tooMany).Reason, StringComparison.Ordinal);
        Assert.IsType<StartResult.Refused>(badToolkit);
        Assert.IsType<StartResult.Refused>(badProvision);
        Assert.Empty(await SlurmFixture.LiveJobsAsync($"portal-{user}"));
    }

    [Fact]
    public async Task AddSlurmBackend_FromConfiguration_RegistersOneSingletonAsBackend()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Slurm:ConfPath"] = SlurmFixture.ConfPath,
            ["Slurm:StateDirectory"] = Path.Combine(_root, "state"),
            ["Slurm:HomeRoot"] = Path.Combine(_root, "homes"),
            ["Slurm:StartTimeoutSeconds"] = "900",
        }).Build();
        await using var provider = new ServiceCollection().AddLogging().AddSlurmBackend(configuration)
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var backend = Assert.Single(provider.GetServices<ISpawnerBackend>());

        Assert.Same(provider.GetRequiredService<SlurmBackend>(), backend);
        Assert.Equal("slurm", backend.Name);
        Assert.Equal(TimeSpan.FromSeconds(900), backend.StartTimeout);
        Assert.Equal(480, provider.GetRequiredService<IOptions<SlurmOptions>>().Value.WalltimeMinutes);
        var user = Username.Parse(slurm.NewUser());
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(new ServerRef("slurm", user, "999998"), CancellationToken.None));
    }

    public async Task DisposeAsync()
    {
        try
        {
            foreach (var (backend, user) in _started)
            {
                await backend.StopAsync(new ServerRef("slurm", user, user.Value), CancellationToken.None);
            }
            await slurm.CancelBlockersAsync();
        }
        finally
        {
            if (_node is not null)
            {
                await _node.DisposeAsync();
            }
            foreach (var backend in _backends)
            {
                backend.Dispose();
            }
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder; a job that was still writing when cancelled may keep it busy.
            }
        }
    }

    private SlurmBackend Backend(string jupyterCommand = "/usr/bin/jupyter-notebook", int walltimeMinutes = 60, int startTimeoutSeconds = 60)
    {
        var backend = new SlurmBackend(Options.Create(new SlurmOptions
        {
            ConfPath = SlurmFixture.ConfPath,
            StateDirectory = Path.Combine(_root, "state"),
            HomeRoot = Path.Combine(_root, "homes"),
            JupyterCommand = jupyterCommand,
            JupyterIp = "127.0.0.1",
            PortRangeStart = SlurmFixture.PortRangeStart,
            PortRangeEnd = SlurmFixture.PortRangeEnd,
            WalltimeMinutes = walltimeMinutes,
            StartTimeoutSeconds = startTimeoutSeconds,
            StopTimeoutSeconds = 20,
            PollIntervalMilliseconds = 100,
        }), TimeProvider.System, NullLogger<SlurmBackend>.Instance);
        _backends.Add(backend);
        return backend;
    }

    private Username NewUser(SlurmBackend backend)
    {
        var user = Username.Parse(slurm.NewUser());
        _started.Add((backend, user));
        return user;
    }

    private static ServerSpec Spec(Username user, string? toolkit, IReadOnlyList<GpuDevice> gpus, decimal cpus = 1, int memoryGiB = 1) =>
        new(Guid.NewGuid(), user, toolkit, gpus, new ResourceLimits(cpus, memoryGiB, 10, gpus.Count, null));

    /// <summary>The pid the job wrote into its endpoint file: Jupyter's (the script execs it).</summary>
    private int EndpointPid(Username user)
    {
        var line = File.ReadAllLines(Path.Combine(_root, "state", $"{user}.endpoint")).Single(l => l.StartsWith("pid=", StringComparison.Ordinal));
        return int.Parse(line["pid=".Length..], CultureInfo.InvariantCulture);
    }

    private static async Task<List<ProgressEvent>> ProgressAsync(ISpawnerBackend backend, ServerRef server)
    {
        var events = await BackendProgress.CollectAsync(backend, server, Timeout);
        Assert.NotEmpty(events);
        return events;
    }

    private static string Describe(IEnumerable<ProgressEvent> progress) =>
        string.Join(" | ", progress.Select(p => $"{p.Percent}% {p.Message}{(p.Ready ? " [ready]" : "")}{(p.Failed ? " [failed]" : "")}"));

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
        return true;
    }

    private static HttpClient Http() => new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };

    private static Dictionary<string, string> ProcessEnvironment(int pid) =>
        Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ"))
            .Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=', 2))
            .Where(e => e.Length == 2)
            .GroupBy(e => e[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First()[1], StringComparer.Ordinal);

    private static string[] CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0] is not ("Z" or "X");
        }
        catch (IOException)
        {
            return false;
        }
    }
}
