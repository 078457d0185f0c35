using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers.Lxd;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>
/// The LXD backend against the real test LXD (Debian's lxd 5.0.2, its own daemon; containers from the stand-in
/// images of scripts/lib/lxd.sh: busybox httpd as the single-user server, not Jupyter); each test has users of its own.
/// </summary>
public sealed partial class LxdBackendTests(LxdFixture lxd) : IClassFixture<LxdFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly GpuDevice[] TwoGpus =
    [
        new(0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"),
        new(1, "GPU-11111111-1111-1111-1111-111111111111", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"),
    ];

    [Fact]
    public async Task StartAsync_NewUser_ReadyThroughProxyWithQuotaToolkitAndHomeThenStopDeletesIt()
    {
        var backend = lxd.Backend();
        var user = lxd.NewUser();
        var name = $"portal-{user}";
        var spec = Spec(user, "12.4", TwoGpus) with { CudaProvision = "portal-cuda-12-4" };

        var started = await backend.StartAsync(spec, CancellationToken.None);

        var server = Assert.IsType<StartResult.Pending>(started).Server;
        Assert.Equal(new ServerRef("lxd", Username.Parse(user), name), server);
        var progress = await ProgressAsync(backend, server);
        Assert.True(progress[^1].Ready, Describe(progress));
        Assert.All(progress[..^1], p => Assert.False(p.Ready || p.Failed));
        var running = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Equal(running.Url, progress[^1].Url);
        Assert.NotNull(running.LastActivity);
        Assert.Equal("127.0.0.1", running.Url.Host);
        Assert.InRange(running.Url.Port, LxdFixture.PortRangeStart, LxdFixture.PortRangeEnd);
        var token = Assert.Single(TokenQuery().Matches(running.Url.Query)).Groups[1].Value;

        // The server answers on the host through the container's proxy device.
        using var browser = new HttpClient();
        using (var page = await browser.GetAsync(running.Url))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains($"Stand-in server of {user}", html, StringComparison.Ordinal);
            Assert.Contains("CUDA 12.4.", html, StringComparison.Ordinal);
        }

        // The instance: the quota as LXD limits, the portal's own keys, the proxy on that port, the home, no GPU device.
        var instance = await lxd.InstanceAsync(name) ?? throw new InvalidOperationException($"no instance {name}");
        var config = instance.GetProperty("config");
        Assert.Equal("2", config.GetProperty("limits.cpu").GetString());
        Assert.Equal("4GiB", config.GetProperty("limits.memory").GetString());
        Assert.Equal(spec.ServerId.ToString(), config.GetProperty(LxdBackend.ServerIdKey).GetString());
        Assert.Equal("portal-cuda-12-4", config.GetProperty(LxdBackend.ImageKey).GetString());
        Assert.Equal("12.4", config.GetProperty("image.cuda").GetString());
        var devices = instance.GetProperty("devices");
        Assert.Equal($"tcp:127.0.0.1:{running.Url.Port}", devices.GetProperty("web").GetProperty("listen").GetString());
        Assert.Equal(Path.Combine(LxdFixture.HomeRoot, user), devices.GetProperty("home").GetProperty("source").GetString());
        Assert.Equal($"/home/{user}", devices.GetProperty("home").GetProperty("path").GetString());
        Assert.DoesNotContain(devices.EnumerateObject(), d => d.Value.GetProperty("type").GetString() == "gpu");
        Assert.True(System.IO.Directory.Exists(Path.Combine(LxdFixture.HomeRoot, user)));

        // The server process (the httpd the container's init started) sees the image's toolkit and the spec's environment,
        // and runs under the memory limit.
        var pid = await EventuallyAsync(() => lxd.ServerPidAsync(name)) ?? throw new InvalidOperationException("no server process");
        var environment = HubFixture.ProcessEnvironment(pid);
        Assert.Equal("12.4", environment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-12.4", environment["CUDA_HOME"]);
        Assert.Equal($"{TwoGpus[0].Uuid},{TwoGpus[1].Uuid}", environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal(user, environment["PORTAL_USER"]);
        Assert.Equal(token, environment["JUPYTER_TOKEN"]);
        Assert.Equal(4L * 1024 * 1024 * 1024, LxdFixture.MemoryLimit(pid));
        var (mounted, _) = await lxd.ExecAsync(name, "/bin/grep", "-q", $" /home/{user} ", "/proc/self/mountinfo");
        Assert.Equal(0, mounted);
        var (_, toolkit) = await lxd.ExecAsync(name, "/bin/cat", "/usr/local/cuda-12.4/version.txt");
        Assert.StartsWith("CUDA Version 12.4", toolkit, StringComparison.Ordinal);

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Equal(new ServerStatus.Stopped(null), await backend.PollAsync(server, CancellationToken.None));
        Assert.Null(await lxd.InstanceAsync(name));
        Assert.Empty(await ProgressAsync(backend, server));
        await Assert.ThrowsAsync<HttpRequestException>(() => browser.GetAsync(running.Url)); // the proxy went with it
    }

    [Fact]
    public async Task StartAsync_OtherToolkitAndNone_EachFromItsImage()
    {
        var backend = lxd.Backend();
        var older = lxd.NewUser();
        var plain = lxd.NewUser();

        // No provision: the image follows Lxd:ImageTemplate; no toolkit: Lxd:DefaultImage.
        var servers = new[]
        {
            Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(older, "11.8", []), CancellationToken.None)).Server,
            Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(plain, null, []), CancellationToken.None)).Server,
        };

        foreach (var server in servers)
        {
            Assert.True((await ProgressAsync(backend, server))[^1].Ready, server.Reference);
        }
        var olderInstance = await lxd.InstanceAsync($"portal-{older}") ?? throw new InvalidOperationException("no instance");
        Assert.Equal("portal-cuda-11-8", olderInstance.GetProperty("config").GetProperty(LxdBackend.ImageKey).GetString());
        var olderEnvironment = HubFixture.ProcessEnvironment(await EventuallyAsync(() => lxd.ServerPidAsync($"portal-{older}")) ?? 0);
        Assert.Equal("11.8", olderEnvironment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-11.8", olderEnvironment["CUDA_HOME"]);
        Assert.False(olderEnvironment.ContainsKey("CUDA_VISIBLE_DEVICES")); // no GPUs: LXD keeps no empty value
        var plainInstance = await lxd.InstanceAsync($"portal-{plain}") ?? throw new InvalidOperationException("no instance");
        Assert.Equal("portal-default", plainInstance.GetProperty("config").GetProperty(LxdBackend.ImageKey).GetString());
        var plainEnvironment = HubFixture.ProcessEnvironment(await EventuallyAsync(() => lxd.ServerPidAsync($"portal-{plain}")) ?? 0);
        Assert.False(plainEnvironment.ContainsKey("CUDA_VERSION"));
        var urls = new List<Uri>();
        foreach (var server in servers)
        {
            urls.Add(Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None)).Url);
        }
        Assert.NotEqual(urls[0].Port, urls[1].Port);

        await Task.WhenAll(servers.Select(s => backend.StopAsync(s, CancellationToken.None)));
        Assert.Empty(await lxd.InstancesOfAsync(older));
        Assert.Empty(await lxd.InstancesOfAsync(plain));
    }

    [Fact]
    public async Task StartAsync_AfterCrashBetweenCreateAndRecord_AdoptsTheOneInstance()
    {
        var user = lxd.NewUser();
        var name = $"portal-{user}";
        var spec = Spec(user, "12.1", []) with { CudaProvision = "portal-cuda-12-1" };
        // What a portal that died after LXD created the container, before it started it or recorded the reference,
        // leaves behind: the user's home and the instance (never started) on the last port of the range.
        var port = LxdFixture.PortRangeEnd;
        System.IO.Directory.CreateDirectory(Path.Combine(LxdFixture.HomeRoot, user));
        await lxd.CreateInstanceAsync(LxdBackend.InstanceRequest(spec, lxd.Options(), "portal-cuda-12-1", port, "left-by-a-crash-0123456789"));

        var started = await lxd.Backend().StartAsync(spec, CancellationToken.None);

        var server = Assert.IsType<StartResult.Pending>(started).Server;
        Assert.Equal(name, server.Reference);
        var backend = lxd.Backend();
        var progress = await ProgressAsync(backend, server);
        Assert.True(progress[^1].Ready, Describe(progress));
        Assert.Equal(new Uri($"http://127.0.0.1:{port}/?token=left-by-a-crash-0123456789"), progress[^1].Url);
        Assert.Equal(new[] { name }, await lxd.InstancesOfAsync(user));
        // Once more (the job retried): the running server is the answer, still one instance.
        var again = Assert.IsType<StartResult.Ready>(await lxd.Backend().StartAsync(spec, CancellationToken.None));
        Assert.Equal(server, again.Server);
        Assert.Equal(progress[^1].Url, again.Url);
        Assert.Equal(new[] { name }, await lxd.InstancesOfAsync(user));

        await backend.StopAsync(server, CancellationToken.None);
        Assert.Empty(await lxd.InstancesOfAsync(user));
    }

    [Fact]
    public async Task StartAsync_TenConcurrentFromTwoPortals_OneInstance()
    {
        var portals = new[] { lxd.Backend(), lxd.Backend() };
        var user = lxd.NewUser();
        var spec = Spec(user, "12.4", TwoGpus);

        var results = await Task.WhenAll(Enumerable.Range(0, 10)
            .Select(i => Task.Run(() => portals[i % 2].StartAsync(spec, CancellationToken.None))));

        Assert.All(results, r => Assert.True(r is StartResult.Pending or StartResult.Ready, r.ToString()));
        var server = results[0] switch
        {
            StartResult.Pending p => p.Server,
            StartResult.Ready r => r.Server,
            var other => throw new InvalidOperationException(other.ToString()),
        };
        Assert.True((await ProgressAsync(portals[0], server))[^1].Ready);
        Assert.Equal(new[] { $"portal-{user}" }, await lxd.InstancesOfAsync(user));
        var url = Assert.IsType<ServerStatus.Running>(await portals[1].PollAsync(server, CancellationToken.None)).Url;
        Assert.Equal(url, Assert.IsType<ServerStatus.Running>(await portals[0].PollAsync(server, CancellationToken.None)).Url);

        await portals[1].StopAsync(server, CancellationToken.None);
        Assert.Empty(await lxd.InstancesOfAsync(user));
        Assert.Equal(new ServerStatus.Stopped(null), await portals[0].PollAsync(server, CancellationToken.None));
    }

    [Fact]
    public async Task StopAsync_WhileStarting_ConvergesToStopped()
    {
        // The stand-in waits a minute before it answers: the container runs, the server does not answer yet.
        var backend = lxd.Backend(new Dictionary<string, string?> { ["Lxd:Environment:STANDIN_START_DELAY"] = "60" });
        var user = lxd.NewUser();

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, "12.4", []), CancellationToken.None)).Server;
        var starting = Assert.IsType<ServerStatus.Starting>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Equal(70, starting.Percent);
        using (var first = new CancellationTokenSource(Timeout))
        {
            await using var events = backend.ProgressAsync(server, first.Token).GetAsyncEnumerator(first.Token);
            Assert.True(await events.MoveNextAsync());
            Assert.Equal(new ProgressEvent(70, "The container runs; waiting for the server to answer."), events.Current);
        }

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Equal(new ServerStatus.Stopped(null), await backend.PollAsync(server, CancellationToken.None));
        Assert.Null(await lxd.InstanceAsync($"portal-{user}"));
        Assert.Empty(await ProgressAsync(backend, server));
    }

    [Fact]
    public async Task StopAsync_NeverStartedUser_SucceedsAndPollSaysStopped()
    {
        var backend = lxd.Backend();
        var user = lxd.NewUser();
        var server = new ServerRef("lxd", Username.Parse(user), $"portal-{user}");

        await backend.StopAsync(server, CancellationToken.None);
        await backend.StopAsync(server, CancellationToken.None);

        Assert.Equal(new ServerStatus.Stopped(null), await backend.PollAsync(server, CancellationToken.None));
        Assert.Empty(await ProgressAsync(backend, server));
        Assert.Null(await lxd.InstanceAsync(server.Reference));
        Assert.False(System.IO.Directory.Exists(Path.Combine(LxdFixture.HomeRoot, user))); // stopping makes no home
    }

    [Fact]
    public async Task StartAsync_UnknownImageOrToolkit_RefusedAndNothingLeft()
    {
        var backend = lxd.Backend();
        var user = lxd.NewUser();

        var noImage = await backend.StartAsync(Spec(user, "12.4", []) with { CudaProvision = "portal-cuda-99-9" }, CancellationToken.None);
        var noToolkit = await backend.StartAsync(Spec(user, "not-a-toolkit", []), CancellationToken.None);

        Assert.Contains("'portal-cuda-99-9'", Assert.IsType<StartResult.Refused>(noImage).Reason, StringComparison.Ordinal);
        Assert.Contains("'not-a-toolkit'", Assert.IsType<StartResult.Refused>(noToolkit).Reason, StringComparison.Ordinal);
        Assert.Null(await lxd.InstanceAsync($"portal-{user}"));
    }

    [Fact]
    public async Task ProgressAsync_ServerExitsAfterStart_EndsFailedWithTheConsoleAndStopCleansUp()
    {
        var backend = lxd.Backend(new Dictionary<string, string?>
        {
            ["Lxd:Environment:STANDIN_START_DELAY"] = "1",
            ["Lxd:Environment:STANDIN_EXIT_CODE"] = "3",
        });
        var user = lxd.NewUser();

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, null, []), CancellationToken.None)).Server;

        var progress = await ProgressAsync(backend, server);
        Assert.True(progress[^1].Failed, Describe(progress));
        Assert.Contains($"The container portal-{user} stopped.", progress[^1].Message, StringComparison.Ordinal);
        Assert.Contains("exiting with code 3", progress[^1].Message, StringComparison.Ordinal);
        var stopped = Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Contains("exiting with code 3", stopped.Reason, StringComparison.Ordinal);

        await backend.StopAsync(server, CancellationToken.None);
        Assert.Null(await lxd.InstanceAsync(server.Reference));
    }

    [Fact]
    public async Task StartAsync_InstanceThePortalDidNotMake_RefusedAndLeftAlone()
    {
        var backend = lxd.Backend();
        var user = lxd.NewUser();
        var name = $"portal-{user}";
        await lxd.CreateInstanceAsync(new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = name,
            ["source"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "image", ["alias"] = "portal-default" },
        });
        var server = new ServerRef("lxd", Username.Parse(user), name);

        var started = await backend.StartAsync(Spec(user, null, []), CancellationToken.None);
        await backend.StopAsync(server, CancellationToken.None);

        Assert.Contains("did not make", Assert.IsType<StartResult.Refused>(started).Reason, StringComparison.Ordinal);
        Assert.Equal(new ServerStatus.Stopped($"The LXD instance {name} is not the portal's."), await backend.PollAsync(server, CancellationToken.None));
        Assert.NotNull(await lxd.InstanceAsync(name)); // neither started nor deleted
    }

    [Fact]
    public async Task StartAsync_NoLxdAtTheSocket_ThrowsLxdExceptionAndCreatesNothing()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"portal-no-lxd-{Guid.NewGuid():N}.socket");
        var backend = lxd.Backend(new Dictionary<string, string?> { ["Lxd:SocketPath"] = socket });
        var user = lxd.NewUser();

        var error = await Assert.ThrowsAsync<LxdException>(() => backend.StartAsync(Spec(user, "12.4", []), CancellationToken.None));
        var pollError = await Assert.ThrowsAsync<LxdException>(() =>
            backend.PollAsync(new ServerRef("lxd", Username.Parse(user), $"portal-{user}"), CancellationToken.None));

        Assert.Contains("could not be reached", error.Message, StringComparison.Ordinal);
        Assert.Contains("could not be reached", pollError.Message, StringComparison.Ordinal);
        Assert.Null(await lxd.InstanceAsync($"portal-{user}"));
    }

    [Fact]
    public void InstanceRequest_GpusAttachedFractionalCpuAndDiskQuota_DevicesAndLimits()
    {
        var options = new LxdOptions { AttachGpus = true, LimitRootDisk = true, HomeRoot = "/srv/homes", PortRangeStart = 21000 };
        options.Environment["HTTPS_PROXY"] = "http://proxy.example.org:3128";
        var spec = new ServerSpec(Guid.NewGuid(), Username.Parse("alice"), "12.4", TwoGpus, new ResourceLimits(1.5m, 8, 20, 2, null));

        var request = LxdBackend.InstanceRequest(spec, options, "portal-cuda-12-4", 21007, "t0ken");

        using var json = JsonDocument.Parse(request.ToJsonString());
        var root = json.RootElement;
        Assert.Equal("portal-alice", root.GetProperty("name").GetString());
        Assert.Equal("portal-cuda-12-4", root.GetProperty("source").GetProperty("alias").GetString());
        var config = root.GetProperty("config");
        Assert.Equal("2", config.GetProperty("limits.cpu").GetString());
        Assert.Equal("150ms/100ms", config.GetProperty("limits.cpu.allowance").GetString());
        Assert.Equal("8GiB", config.GetProperty("limits.memory").GetString());
        Assert.Equal("true", config.GetProperty("nvidia.runtime").GetString());
        Assert.Equal($"{TwoGpus[0].Uuid},{TwoGpus[1].Uuid}", config.GetProperty("environment.CUDA_VISIBLE_DEVICES").GetString());
        Assert.Equal("t0ken", config.GetProperty("environment.JUPYTER_TOKEN").GetString());
        Assert.Equal("http://proxy.example.org:3128", config.GetProperty("environment.HTTPS_PROXY").GetString());
        var devices = root.GetProperty("devices");
        foreach (var gpu in TwoGpus)
        {
            var device = devices.GetProperty($"gpu{gpu.Index}");
            Assert.Equal("gpu", device.GetProperty("type").GetString());
            Assert.Equal("physical", device.GetProperty("gputype").GetString());
            Assert.Equal(gpu.Index.ToString(CultureInfo.InvariantCulture), device.GetProperty("id").GetString());
        }
        Assert.Equal("tcp:127.0.0.1:21007", devices.GetProperty("web").GetProperty("listen").GetString());
        Assert.Equal("tcp:127.0.0.1:8888", devices.GetProperty("web").GetProperty("connect").GetString());
        Assert.Equal("/srv/homes/alice", devices.GetProperty("home").GetProperty("source").GetString());
        Assert.Equal("20GiB", devices.GetProperty("root").GetProperty("size").GetString());

        // Without AttachGpus (a host without GPUs, the tests): no GPU device and no NVIDIA runtime, the variable stays.
        options.AttachGpus = false;
        using var without = JsonDocument.Parse(LxdBackend.InstanceRequest(spec, options, "portal-cuda-12-4", 21007, "t0ken").ToJsonString());
        Assert.DoesNotContain(without.RootElement.GetProperty("devices").EnumerateObject(), d => d.Name.StartsWith("gpu", StringComparison.Ordinal));
        Assert.False(without.RootElement.GetProperty("config").TryGetProperty("nvidia.runtime", out _));
        Assert.True(without.RootElement.GetProperty("config").TryGetProperty("environment.CUDA_VISIBLE_DEVICES", out _));
    }

    [Fact]
    public void InstanceName_UsernamesThatAreNoHostNames_DistinctValidNames()
    {
        var users = new[] { "ab", "a-b", "a_b", "a--b", "a__b", "ab-", "ab_", "ab--", new string('z', 2) + new string('_', 30) };

        var names = users.Select(u => LxdBackend.InstanceName(Username.Parse(u))).ToList();

        Assert.Equal(users.Length, names.Distinct(StringComparer.Ordinal).Count());
        Assert.All(names, n => Assert.Matches("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", n));
        Assert.Equal("portal-a-b", names[1]);
        Assert.StartsWith("portal-a-b--", names[2], StringComparison.Ordinal);
    }

    [Fact]
    public void AddLxdBackend_BadOptions_FailsValidation()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Lxd:SocketPath"] = "relative/unix.socket",
            ["Lxd:PortRangeStart"] = "21000",
            ["Lxd:PortRangeEnd"] = "20000",
            ["Lxd:ImageTemplate"] = "portal-cuda",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddLxdBackend(configuration).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LxdOptions>>().Value);

        Assert.Contains(error.Failures, f => f.Contains("SocketPath", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("PortRangeStart", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("ImageTemplate", StringComparison.Ordinal));
        using var good = new ServiceCollection().AddLogging().AddLxdBackend(LxdFixture.Configuration())
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var backend = Assert.IsType<LxdBackend>(Assert.Single(good.GetServices<ISpawnerBackend>()));
        Assert.Same(good.GetRequiredService<LxdBackend>(), backend);
        Assert.Equal("lxd", backend.Name);
        Assert.Equal(TimeSpan.FromSeconds(30), backend.StartTimeout);
    }

    private static ServerSpec Spec(string user, string? toolkit, IReadOnlyList<GpuDevice> gpus) =>
        new(Guid.NewGuid(), Username.Parse(user), toolkit, gpus, new ResourceLimits(2, 4, 20, gpus.Count, gpus.FirstOrDefault()?.Model));

    private static Task<List<ProgressEvent>> ProgressAsync(ISpawnerBackend backend, ServerRef server) =>
        BackendProgress.CollectAsync(backend, server, Timeout);

    private static string Describe(IEnumerable<ProgressEvent> progress) =>
        string.Join(" | ", progress.Select(p => $"{p.Percent} {p.Message}{(p.Ready ? " ready" : "")}{(p.Failed ? " failed" : "")}"));

    /// <summary>Asks until the answer is not null (or the time is up: null).</summary>
    private static async Task<T?> EventuallyAsync<T>(Func<Task<T?>> ask) where T : struct
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            if (await ask() is { } answer)
            {
                return answer;
            }
            if (DateTime.UtcNow >= deadline)
            {
                return null;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    [GeneratedRegex("^\\?token=([0-9a-f]{48})$")]
    private static partial Regex TokenQuery();
}
