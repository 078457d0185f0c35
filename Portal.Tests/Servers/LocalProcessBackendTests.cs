using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers.LocalProcess;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>The local-process backend against real <c>jupyter-notebook</c> processes (Debian's Notebook 6.4).</summary>
public sealed class LocalProcessBackendTests : IAsyncLifetime
{
    private const string Jupyter = "/usr/bin/jupyter-notebook";
    private const int PortsPerTest = TestPorts.BlockSize;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly string[] AllowedEnvironment =
    [
        "PATH", "HOME", "SHELL", "LANG", "PYTHONUNBUFFERED", "CUDA_VISIBLE_DEVICES", "CUDA_VERSION", "CUDA_HOME", "LD_LIBRARY_PATH",
        "JUPYTER_RUNTIME_DIR", "JUPYTER_TOKEN_FILE", "PWD",
    ];

    private readonly string _root = System.IO.Directory.CreateTempSubdirectory("portal-local-").FullName;
    // Each test gets ports of its own (TestPorts: below the ephemeral range, a block per test).
    private readonly int _portStart = TestPorts.Block();
    private readonly List<LocalProcessBackend> _backends = [];
    private readonly HashSet<string> _usernames = [];

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task StartAsync_FreshUser_ReadyServesTreeAndStopEndsProcessGroup()
    {
        var backend = Backend();
        var user = NewUser();

        var started = await backend.StartAsync(Spec(user), CancellationToken.None);

        var pending = Assert.IsType<StartResult.Pending>(started);
        Assert.Equal("local", pending.Server.Backend);
        Assert.Matches(@"^\d+:\d+$", pending.Server.Reference);
        var (pid, port) = PidAndPort(pending.Server);
        Assert.InRange(port, _portStart, _portStart + PortsPerTest - 1);
        var progress = await ProgressAsync(backend, pending.Server);
        Assert.True(progress[0] is { Percent: 10, Ready: false, Failed: false }, string.Join(" | ", progress.Select(p => p.Message)));
        var ready = progress[^1];
        Assert.True(ready.Ready, string.Join(" | ", progress.Select(p => p.Message)));
        Assert.Equal(100, ready.Percent);
        Assert.Equal(new Uri($"http://127.0.0.1:{port}/?token={Token(ready.Url!)}"), ready.Url);
        var running = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(pending.Server, CancellationToken.None));
        Assert.Equal(ready.Url, running.Url);
        Assert.NotNull(running.LastActivity);

        using var http = Http();
        var tree = await http.GetAsync(running.Url);
        Assert.Equal(HttpStatusCode.OK, tree.StatusCode);
        Assert.EndsWith("/tree", tree.RequestMessage!.RequestUri!.AbsolutePath, StringComparison.Ordinal);
        Assert.Contains("id=\"notebook_list\"", await tree.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // A fresh client: the first one holds the login cookie the token bought.
        using var stranger = Http();
        var withoutToken = await stranger.GetAsync(new Uri($"http://127.0.0.1:{port}/api/status"));
        Assert.Equal(HttpStatusCode.Forbidden, withoutToken.StatusCode);
        Assert.True(System.IO.Directory.Exists(Path.Combine(_root, "homes", user.Value)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
            File.GetUnixFileMode(Path.Combine(_root, "homes", user.Value)));
        Assert.True(GroupAlive(pid));

        await backend.StopAsync(pending.Server, CancellationToken.None);

        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(pending.Server, CancellationToken.None));
        Assert.False(GroupAlive(pid));
        Assert.Empty(ProcessesUnder(user));
    }

    [Fact]
    public async Task StartAsync_SpecWithGpusAndToolkit_ProcessEnvironmentCarriesThemAndNoSecrets()
    {
        var backend = Backend();
        var user = NewUser();

        var started = await backend.StartAsync(Spec(user, "12.4", 0, 2), CancellationToken.None);

        var server = Assert.IsType<StartResult.Pending>(started).Server;
        var ready = (await ProgressAsync(backend, server))[^1];
        Assert.True(ready.Ready, ready.Message);
        var (pid, _) = PidAndPort(server);
        var environment = Environment(pid);
        Assert.Equal("0,2", environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal("12.4", environment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-12.4", environment["CUDA_HOME"]);
        Assert.StartsWith("/usr/local/cuda-12.4/bin:", environment["PATH"], StringComparison.Ordinal);
        Assert.Equal(Path.Combine(_root, "homes", user.Value), environment["HOME"]);
        Assert.StartsWith(Path.Combine(_root, "state"), environment["JUPYTER_RUNTIME_DIR"], StringComparison.Ordinal);
        // Nothing of the portal's own environment (connection strings, passwords) is passed on.
        Assert.All(environment.Keys, key => Assert.Contains(key, AllowedEnvironment));
        var token = Token(ready.Url!);
        Assert.DoesNotContain(environment.Values, v => v.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(CommandLine(pid), a => a.Contains(token, StringComparison.Ordinal));
        Assert.Contains($"--notebook-dir={Path.Combine(_root, "homes", user.Value)}", CommandLine(pid));
        // Detached: a session of its own, stdin from /dev/null, output to its log, nothing shared with the portal.
        Assert.Equal(pid, StatField(pid, 6));
        Assert.Equal("/dev/null", FileDescriptorTarget(pid, 0));
        Assert.Equal(Path.Combine(_root, "state", user.Value + ".log"), FileDescriptorTarget(pid, 1));
        Assert.Equal(FileDescriptorTarget(pid, 1), FileDescriptorTarget(pid, 2));
    }

    [Fact]
    public async Task StopAsync_ServerWithRunningKernel_EndsKernelToo()
    {
        var backend = Backend();
        var user = NewUser();
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;
        var url = (await ProgressAsync(backend, server))[^1].Url!;
        using var http = Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(url, "/api/kernels"))
        {
            Content = new StringContent("{\"name\": \"python3\"}", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Authorization", $"token {Token(url)}");
        var created = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var kernelId = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        var kernel = Assert.Single(ProcessesWithArgumentContaining(kernelId));
        var (pid, _) = PidAndPort(server);
        Assert.NotEqual(pid, StatField(kernel, 6)); // the kernel runs in a session of its own, out of reach of the group signal

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Empty(ProcessesWithArgumentContaining(kernelId));
        Assert.False(GroupAlive(pid));
    }

    [Fact]
    public async Task StartAsync_NoGpusNoToolkit_EmptyVisibleDevicesAndNoCudaVersion()
    {
        var backend = Backend();
        var user = NewUser();

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;

        Assert.True((await ProgressAsync(backend, server))[^1].Ready);
        var environment = Environment(PidAndPort(server).Pid);
        Assert.Equal("", environment["CUDA_VISIBLE_DEVICES"]);
        Assert.False(environment.ContainsKey("CUDA_VERSION"));
        Assert.False(environment.ContainsKey("CUDA_HOME"));
    }

    [Fact]
    public async Task StartAsync_TwoUsers_GetDifferentPortsAndProcesses()
    {
        var backend = Backend();
        var first = NewUser();
        var second = NewUser();

        var a = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(first), CancellationToken.None)).Server;
        var b = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(second), CancellationToken.None)).Server;

        Assert.NotEqual(PidAndPort(a).Port, PidAndPort(b).Port);
        Assert.NotEqual(PidAndPort(a).Pid, PidAndPort(b).Pid);
        Assert.True((await ProgressAsync(backend, a))[^1].Ready);
        Assert.True((await ProgressAsync(backend, b))[^1].Ready);
        var urlA = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(a, CancellationToken.None)).Url;
        var urlB = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(b, CancellationToken.None)).Url;
        Assert.NotEqual(urlA.Port, urlB.Port);
        Assert.NotEqual(Token(urlA), Token(urlB));
    }

    [Fact]
    public async Task StartAsync_TwentyConcurrentStartsForOneUser_StartOneProcess()
    {
        var backend = Backend();
        var user = NewUser();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => backend.StartAsync(Spec(user), CancellationToken.None))));

        var references = results.Select(r => r switch
        {
            StartResult.Pending p => p.Server,
            StartResult.Ready r2 => r2.Server,
            _ => throw new InvalidOperationException($"unexpected {r}"),
        }).ToList();
        Assert.Single(references.Distinct());
        Assert.True((await ProgressAsync(backend, references[0]))[^1].Ready);
        Assert.Single(ProcessesUnder(user));
        var again = await backend.StartAsync(Spec(user), CancellationToken.None);
        Assert.Equal(references[0], Assert.IsType<StartResult.Ready>(again).Server);
        Assert.Single(ProcessesUnder(user));
    }

    [Fact]
    public async Task StartAsync_PortLockHeldByAnotherProcess_WaitsUntilReleased()
    {
        var backend = Backend();
        var user = NewUser();
        var stateDirectory = Path.Combine(_root, "state");
        System.IO.Directory.CreateDirectory(stateDirectory);
        // Another process (flock(1), as a second portal would) holds the ports lock until its stdin closes.
        using var holder = Process.Start(new ProcessStartInfo("/usr/bin/flock", [Path.Combine(stateDirectory, ".ports.lock"), "cat"])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
        })!;
        var lockFile = Path.Combine(stateDirectory, ".ports.lock");
        Assert.True(await EventuallyAsync(() => Task.FromResult(File.Exists(lockFile) && IsLockedByOther(lockFile)), locked => locked));

        var start = Task.Run(() => backend.StartAsync(Spec(user), CancellationToken.None));
        // A start that ignored the lock would be done within milliseconds; this one must still wait after half a second.
        var finishedWhileHeld = await Task.WhenAny(start, Task.Delay(TimeSpan.FromMilliseconds(500))) == start;
        holder.StandardInput.Close();
        await holder.WaitForExitAsync();

        Assert.False(finishedWhileHeld);
        var server = Assert.IsType<StartResult.Pending>(await start.WaitAsync(Timeout)).Server;
        Assert.True((await ProgressAsync(backend, server))[^1].Ready);
    }

    [Fact]
    public async Task StartAsync_TwoBackendsOverOneStateDirectoryConcurrently_NeverShareAPort()
    {
        // Two portals on one machine: separate instances over one state directory.
        var left = Backend();
        var right = Backend();
        var users = Enumerable.Range(0, 4).Select(_ => NewUser()).ToList();

        var results = await Task.WhenAll(users.Select((u, i) => Task.Run(() => (i % 2 == 0 ? left : right).StartAsync(Spec(u), CancellationToken.None))));

        var ports = results.Select(r => PidAndPort(Assert.IsType<StartResult.Pending>(r).Server).Port).ToList();
        Assert.Equal(users.Count, ports.Distinct().Count());
        foreach (var result in results)
        {
            Assert.True((await ProgressAsync(left, ((StartResult.Pending)result).Server))[^1].Ready);
        }
    }

    [Fact]
    public async Task PollAsync_NewBackendInstanceOverSameState_ReattachesWithoutDuplicate()
    {
        var before = Backend();
        var user = NewUser();
        var server = Assert.IsType<StartResult.Pending>(await before.StartAsync(Spec(user), CancellationToken.None)).Server;
        var url = (await ProgressAsync(before, server))[^1].Url;
        Assert.NotNull(url);
        var (pid, _) = PidAndPort(server);

        var restarted = Backend();
        var polled = await restarted.PollAsync(server, CancellationToken.None);
        var startedAgain = await restarted.StartAsync(Spec(user), CancellationToken.None);

        Assert.Equal(url, Assert.IsType<ServerStatus.Running>(polled).Url);
        var ready = Assert.IsType<StartResult.Ready>(startedAgain);
        Assert.Equal(server, ready.Server);
        Assert.Equal(url, ready.Url);
        Assert.Equal([pid], ProcessesUnder(user));
        var progress = await ProgressAsync(restarted, server);
        Assert.True(Assert.Single(progress).Ready);

        await restarted.StopAsync(server, CancellationToken.None);

        Assert.False(GroupAlive(pid));
        Assert.Empty(ProcessesUnder(user));
        Assert.IsType<ServerStatus.Stopped>(await before.PollAsync(server, CancellationToken.None));
        Assert.IsType<ServerStatus.Stopped>(await restarted.PollAsync(server, CancellationToken.None));
    }

    [Fact]
    public async Task PollAsync_ProcessKilledFromOutside_StoppedWithReasonThenStartBeginsAfresh()
    {
        var backend = Backend();
        var user = NewUser();
        var first = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;
        Assert.True((await ProgressAsync(backend, first))[^1].Ready);
        var (pid, _) = PidAndPort(first);

        await RunAsync("/bin/kill", "-KILL", pid.ToString(CultureInfo.InvariantCulture));

        var stopped = await EventuallyAsync(() => backend.PollAsync(first, CancellationToken.None), s => s is ServerStatus.Stopped);
        Assert.Equal("Jupyter exited with code 137.", ((ServerStatus.Stopped)stopped).Reason);
        Assert.Equal("Jupyter process " + pid + " not found.",
            Assert.IsType<ServerStatus.Stopped>(await Backend().PollAsync(first, CancellationToken.None)).Reason);
        var second = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;
        Assert.NotEqual(pid, PidAndPort(second).Pid);
        Assert.True((await ProgressAsync(backend, second))[^1].Ready);
        Assert.IsType<ServerStatus.Running>(await backend.PollAsync(second, CancellationToken.None));
        Assert.Equal([PidAndPort(second).Pid], ProcessesUnder(user));
    }

    [Fact]
    public async Task StopAsync_WhileStarting_ConvergesToStoppedWithoutLeftover()
    {
        var backend = Backend();
        var user = NewUser();
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;
        var (pid, _) = PidAndPort(server);

        await backend.StopAsync(server, CancellationToken.None);

        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.False(GroupAlive(pid));
        Assert.Empty(ProcessesUnder(user));
        Assert.True(Assert.Single(await ProgressAsync(backend, server)).Failed);
    }

    [Fact]
    public async Task StopAsync_NeverStartedUser_SucceedsAndPollSaysStopped()
    {
        var backend = Backend();
        var user = NewUser();
        var server = new ServerRef("local", user, user.Value);

        await backend.StopAsync(server, CancellationToken.None);
        await backend.StopAsync(server, CancellationToken.None);

        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Empty(ProcessesUnder(user));
    }

    [Fact]
    public async Task StartAsync_JupyterCannotStart_ProgressFailsAndPollStopped()
    {
        var backend = Backend(jupyterCommand: "/bin/false");
        var user = NewUser();

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;

        var last = (await ProgressAsync(backend, server))[^1];
        Assert.True(last.Failed);
        Assert.False(last.Ready);
        Assert.StartsWith("Jupyter exited with code 1.", last.Message, StringComparison.Ordinal);
        var status = await backend.PollAsync(server, CancellationToken.None);
        Assert.Equal("Jupyter exited with code 1.", Assert.IsType<ServerStatus.Stopped>(status).Reason);
    }

    [Fact]
    public async Task ProgressAsync_JupyterWritesErrorAndExits_FailsWithLogTailTokenBlanked()
    {
        var script = Script("fails", """
            echo "token is $(cat "$JUPYTER_TOKEN_FILE")"
            echo "boom: cannot bind" >&2
            exit 3
            """);
        var backend = Backend(jupyterCommand: script);
        var user = NewUser();

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;

        var last = (await ProgressAsync(backend, server))[^1];
        Assert.True(last.Failed);
        Assert.StartsWith("Jupyter exited with code 3.", last.Message, StringComparison.Ordinal);
        Assert.Contains("boom: cannot bind", last.Message, StringComparison.Ordinal);
        Assert.Contains("token is …", last.Message, StringComparison.Ordinal);
        Assert.Matches(@"token is …(\n|$)", last.Message);
    }

    [Fact]
    public async Task PollAsync_ProcessNeverAnswers_FailedAfterStartTimeoutAndStopEndsIt()
    {
        var script = Script("silent", """
            while :; do sleep 0.1; done
            """);
        var backend = Backend(jupyterCommand: script, startTimeoutSeconds: 1);
        var user = NewUser();
        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user), CancellationToken.None)).Server;
        var (pid, _) = PidAndPort(server);

        var starting = await backend.PollAsync(server, CancellationToken.None);
        var progress = await ProgressAsync(backend, server);

        Assert.IsType<ServerStatus.Starting>(starting);
        Assert.True(progress[^1].Failed);
        Assert.Contains("did not answer", progress[^1].Message, StringComparison.Ordinal);
        Assert.Contains("did not answer", Assert.IsType<ServerStatus.Failed>(await backend.PollAsync(server, CancellationToken.None)).Reason,
            StringComparison.Ordinal);
        Assert.True(GroupAlive(pid));
        await backend.StopAsync(server, CancellationToken.None);
        Assert.False(GroupAlive(pid));
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
    }

    [Fact]
    public async Task StartAsync_BadToolkitOrMissingJupyter_RefusedWithoutProcess()
    {
        var user = NewUser();

        var badToolkit = await Backend().StartAsync(Spec(user, "12.4; rm -rf /"), CancellationToken.None);
        var missing = await Backend(jupyterCommand: Path.Combine(_root, "no-such-jupyter")).StartAsync(Spec(user), CancellationToken.None);

        Assert.IsType<StartResult.Refused>(badToolkit);
        Assert.Contains("not found", Assert.IsType<StartResult.Refused>(missing).Reason, StringComparison.Ordinal);
        Assert.Empty(ProcessesUnder(user));
    }

    [Fact]
    public async Task AddLocalProcessBackend_FromConfiguration_RegistersOneSingletonAsBackend()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LocalProcess:PortRangeStart"] = _portStart.ToString(CultureInfo.InvariantCulture),
            ["LocalProcess:PortRangeEnd"] = (_portStart + PortsPerTest - 1).ToString(CultureInfo.InvariantCulture),
            ["LocalProcess:HomeRoot"] = Path.Combine(_root, "homes"),
            ["LocalProcess:StateDirectory"] = Path.Combine(_root, "state"),
            ["LocalProcess:StartTimeoutSeconds"] = "45",
        }).Build();
        await using var provider = new ServiceCollection().AddLogging().AddLocalProcessBackend(configuration)
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var backend = Assert.Single(provider.GetServices<ISpawnerBackend>());

        Assert.Same(provider.GetRequiredService<LocalProcessBackend>(), backend);
        Assert.Equal("local", backend.Name);
        Assert.Equal(TimeSpan.FromSeconds(45), backend.StartTimeout);
        Assert.Equal(Jupyter, provider.GetRequiredService<IOptions<LocalProcessOptions>>().Value.JupyterCommand);
        var user = NewUser();
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(new ServerRef("local", user, user.Value), CancellationToken.None));
    }

    public async Task DisposeAsync()
    {
        try
        {
            // Stop every server a test may have left, through the backend, then kill whatever still runs under the root.
            using var cleanup = Backend();
            foreach (var user in _usernames)
            {
                await cleanup.StopAsync(new ServerRef("local", Username.Parse(user), user), CancellationToken.None);
            }
        }
        finally
        {
            foreach (var pid in ProcessesWithArgumentContaining(_root))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                    // Gone meanwhile.
                }
            }
            foreach (var backend in _backends)
            {
                backend.Dispose();
            }
            try
            {
                System.IO.Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder; a process that was still writing when killed may keep it busy.
            }
        }
    }

    /// <summary>Whether some other open file description holds an exclusive flock on the file.</summary>
    private static bool IsLockedByOther(string path)
    {
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private LocalProcessBackend Backend(string jupyterCommand = Jupyter, int startTimeoutSeconds = 30)
    {
        var backend = new LocalProcessBackend(Options.Create(new LocalProcessOptions
        {
            PortRangeStart = _portStart,
            PortRangeEnd = _portStart + PortsPerTest - 1,
            HomeRoot = Path.Combine(_root, "homes"),
            StateDirectory = Path.Combine(_root, "state"),
            JupyterCommand = jupyterCommand,
            StartTimeoutSeconds = startTimeoutSeconds,
            StopTimeoutSeconds = 10,
        }), TimeProvider.System, NullLogger<LocalProcessBackend>.Instance);
        _backends.Add(backend);
        return backend;
    }

    private Username NewUser()
    {
        var user = Username.Parse(LdapTestUsers.UniqueUsername("loc"));
        _usernames.Add(user.Value);
        return user;
    }

    private static ServerSpec Spec(Username user, string? toolkit = null, params int[] gpus) =>
        new(Guid.NewGuid(), user, toolkit,
            [.. gpus.Select(i => new GpuDevice(i, $"GPU-{i}", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"))],
            new ResourceLimits(2, 8, 20, gpus.Length, null));

    /// <summary>An executable shell script standing in for Jupyter.</summary>
    private string Script(string name, string body)
    {
        var path = Path.Combine(_root, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static async Task<List<ProgressEvent>> ProgressAsync(ISpawnerBackend backend, ServerRef server)
    {
        var events = await BackendProgress.CollectAsync(backend, server, Timeout);
        Assert.NotEmpty(events);
        return events;
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow >= deadline)
            {
                return value;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    private static (int Pid, int Port) PidAndPort(ServerRef server)
    {
        var parts = server.Reference.Split(':');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    private static string Token(Uri url) => url.Query.Split("token=")[1];

    private static HttpClient Http() => new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };

    private static async Task RunAsync(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { UseShellExecute = false })!;
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
    }

    private static Dictionary<string, string> Environment(int pid) =>
        File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=', 2))
            .ToDictionary(e => e[0], e => e[1], StringComparer.Ordinal);

    private static string[] CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return [];
        }
    }

    /// <summary>A numeric field of <c>/proc/&lt;pid&gt;/stat</c> by its number in proc(5), e.g. 6 = session.</summary>
    private static int StatField(int pid, int field)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[field - 3], CultureInfo.InvariantCulture);
    }

    private static string? FileDescriptorTarget(int pid, int descriptor) =>
        new FileInfo($"/proc/{pid}/fd/{descriptor}").LinkTarget;

    /// <summary>Live (not zombie) processes whose command line names the user's home, i.e. their Jupyter.</summary>
    private List<int> ProcessesUnder(Username user) =>
        ProcessesWithArgumentContaining($"--notebook-dir={Path.Combine(_root, "homes", user.Value)}");

    private static List<int> ProcessesWithArgumentContaining(string text) =>
        [.. LiveProcesses().Where(p => CommandLine(p.Pid).Any(a => a.Contains(text, StringComparison.Ordinal))).Select(p => p.Pid)];

    /// <summary>Whether any process of the group is alive (zombies do not count: they have exited).</summary>
    private static bool GroupAlive(int processGroup) => LiveProcesses().Any(p => p.Group == processGroup);

    private static IEnumerable<(int Pid, int Group)> LiveProcesses()
    {
        foreach (var directory in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields[0] is not ("Z" or "X"))
            {
                yield return (pid, int.Parse(fields[2], CultureInfo.InvariantCulture));
            }
        }
    }
}
