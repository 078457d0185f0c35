using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers.Docker;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>
/// The Docker backend against the real test dockerd (Debian's docker.io 20.10, <c>scripts/lib/docker.sh</c>): real
/// containers, limits, mounts and published ports. The images' program is a stand-in for Jupyter (busybox httpd
/// answering <c>/api/status</c> and a page), and there is no NVIDIA runtime: GPUs are asked for only where a test says so.
/// </summary>
public sealed class DockerBackendTests(DockerFixture docker) : IClassFixture<DockerFixture>
{
    private const int PortsPerTest = TestPorts.BlockSize;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // Published ports of this class's containers: below the ephemeral range, where docker-proxy's bind cannot lose a race.
    private static readonly int PortBase = TestPorts.Block();

    private static readonly GpuDevice[] TwoGpus =
    [
        new(0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"),
        new(1, "GPU-11111111-1111-1111-1111-111111111111", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"),
    ];

    [Fact]
    public async Task StartAsync_ToolkitWithGpus_ReadyWithQuotaLabelsMountsAndStopRemovesContainer()
    {
        var backend = docker.Backend(new Dictionary<string, string?>
        {
            ["Docker:PortRangeStart"] = PortBase.ToString(CultureInfo.InvariantCulture),
            ["Docker:PortRangeEnd"] = (PortBase + PortsPerTest - 1).ToString(CultureInfo.InvariantCulture),
            ["Docker:Environment:STANDIN_START_DELAY"] = "2",
        });
        var user = docker.NewUser();
        var spec = Spec(user, "12.4", TwoGpus, cpu: 1.5m, memoryGiB: 2) with { CudaProvision = "portal-cuda:12.4" };

        var started = await backend.StartAsync(spec, CancellationToken.None);

        var server = Assert.IsType<StartResult.Pending>(started).Server;
        Assert.Equal("docker", server.Backend);
        Assert.Equal(user, server.Username.Value);
        Assert.Matches("^[0-9a-f]{64}$", server.Reference);
        var progress = await ProgressAsync(backend, server);
        Assert.Equal(new[] { 20, 40, 60, 100 }, progress.Select(p => p.Percent));
        Assert.True(progress[^1].Ready, Describe(progress));
        Assert.All(progress[..^1], p => Assert.False(p.Ready || p.Failed));
        var running = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Equal(progress[^1].Url, running.Url);
        Assert.NotNull(running.LastActivity);
        Assert.Equal("127.0.0.1", running.Url.Host);
        Assert.InRange(running.Url.Port, PortBase, PortBase + PortsPerTest - 1);
        using (var http = new HttpClient())
        {
            using var page = await http.GetAsync(running.Url);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains($"Stand-in server of {user}", html, StringComparison.Ordinal);
            Assert.Contains("CUDA 12.4", html, StringComparison.Ordinal);
        }

        var container = await DockerFixture.InspectAsync(server.Reference) ?? throw new InvalidOperationException("no container");
        Assert.Equal($"/portal-{user}", container.GetProperty("Name").GetString());
        var config = container.GetProperty("Config");
        Assert.Equal("portal-cuda:12.4", config.GetProperty("Image").GetString());
        var labels = config.GetProperty("Labels");
        Assert.Equal(user, labels.GetProperty("portal.user").GetString());
        Assert.Equal(spec.ServerId.ToString(), labels.GetProperty("portal.server-id").GetString());
        Assert.Equal("12.4", labels.GetProperty("portal.toolkit").GetString());
        var hostConfig = container.GetProperty("HostConfig");
        Assert.Equal(1_500_000_000L, hostConfig.GetProperty("NanoCpus").GetInt64());
        Assert.Equal(2L << 30, hostConfig.GetProperty("Memory").GetInt64());
        Assert.Equal(JsonValueKind.Null, hostConfig.GetProperty("DeviceRequests").ValueKind); // Docker:RequestGpus is off here
        var mounts = container.GetProperty("Mounts").EnumerateArray().ToDictionary(m => m.GetProperty("Destination").GetString()!);
        Assert.Equal(Path.Combine(docker.HomeRoot, user), mounts["/home/jovyan"].GetProperty("Source").GetString());
        Assert.True(mounts["/home/jovyan"].GetProperty("RW").GetBoolean());
        Assert.Equal(docker.DataPath, mounts["/srv/data"].GetProperty("Source").GetString());
        Assert.False(mounts["/srv/data"].GetProperty("RW").GetBoolean());
        var environment = DockerFixture.Environment(container);
        Assert.Equal("12.4", environment["CUDA_VERSION"]); // from the image
        Assert.Equal("/usr/local/cuda-12.4", environment["CUDA_HOME"]);
        Assert.Equal("0,1", environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal($"{TwoGpus[0].Uuid},{TwoGpus[1].Uuid}", environment["NVIDIA_VISIBLE_DEVICES"]);
        Assert.Equal($"?token={environment["JUPYTER_TOKEN"]}", running.Url.Query);
        var binding = container.GetProperty("NetworkSettings").GetProperty("Ports").GetProperty("8888/tcp")[0];
        Assert.Equal("127.0.0.1", binding.GetProperty("HostIp").GetString());
        // The server wrote into the home through the bind mount.
        Assert.Contains("cuda=12.4", await File.ReadAllTextAsync(Path.Combine(docker.HomeRoot, user, ".portal-standin.log")), StringComparison.Ordinal);

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Null(await DockerFixture.InspectAsync(server.Reference));
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(user));
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.True(Assert.Single(await ProgressAsync(backend, server)).Failed);
    }

    [Fact]
    public async Task StartAsync_ToolkitWithoutProvisionAndNoToolkit_TemplateImageAndDefaultImage()
    {
        var backend = docker.Backend();
        var (withToolkit, without) = (docker.NewUser(), docker.NewUser());

        var results = await Task.WhenAll(
            backend.StartAsync(Spec(withToolkit, "11.8", []), CancellationToken.None),
            backend.StartAsync(Spec(without, null, []), CancellationToken.None));

        var servers = results.Select(r => Assert.IsType<StartResult.Pending>(r).Server).ToList();
        foreach (var server in servers)
        {
            var progress = await ProgressAsync(backend, server);
            Assert.True(progress[^1].Ready, Describe(progress));
        }
        var cuda = await DockerFixture.InspectAsync(servers[0].Reference) ?? throw new InvalidOperationException("no container");
        Assert.Equal("portal-cuda:11.8", cuda.GetProperty("Config").GetProperty("Image").GetString());
        var cudaEnvironment = DockerFixture.Environment(cuda);
        Assert.Equal("11.8", cudaEnvironment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-11.8", cudaEnvironment["CUDA_HOME"]);
        Assert.Equal("", cudaEnvironment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal("void", cudaEnvironment["NVIDIA_VISIBLE_DEVICES"]); // no GPU even where nvidia is the default runtime
        var plain = await DockerFixture.InspectAsync(servers[1].Reference) ?? throw new InvalidOperationException("no container");
        Assert.Equal("portal-notebook:latest", plain.GetProperty("Config").GetProperty("Image").GetString());
        Assert.False(DockerFixture.Environment(plain).ContainsKey("CUDA_VERSION"));
        Assert.False(plain.GetProperty("Config").GetProperty("Labels").TryGetProperty("portal.toolkit", out _));
        using (var http = new HttpClient())
        {
            var running = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(servers[0], CancellationToken.None));
            Assert.Contains("CUDA 11.8", await http.GetStringAsync(running.Url), StringComparison.Ordinal);
        }

        await Task.WhenAll(servers.Select(s => backend.StopAsync(s, CancellationToken.None)));

        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(withToolkit));
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(without));
    }

    [Fact]
    public async Task StartAsync_CrashBetweenCreateAndRecord_NewBackendsAdoptTheOneContainer()
    {
        var first = docker.Backend();
        var user = docker.NewUser();
        var spec = Spec(user, "12.4", [], cpu: 1, memoryGiB: 1) with { CudaProvision = "portal-cuda:12.4" };
        // What a start that died right after its create left: a container of the server, created, never started or recorded.
        var token = RandomNumberGenerator.GetHexString(64, lowercase: true);
        System.IO.Directory.CreateDirectory(Path.Combine(docker.HomeRoot, user));
        var orphan = await CreateContainerAsync(first, spec, token);

        var afterCrash = await docker.Backend().StartAsync(spec, CancellationToken.None);
        var again = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            Task.Run(() => (i % 2 == 0 ? first : docker.Backend()).StartAsync(spec, CancellationToken.None))));

        var server = Assert.IsType<StartResult.Pending>(afterCrash).Server;
        Assert.Equal(orphan, server.Reference);
        Assert.All(again, r => Assert.Equal(orphan, r switch
        {
            StartResult.Pending p => p.Server.Reference,
            StartResult.Ready ready => ready.Server.Reference,
            var other => $"unexpected {other}",
        }));
        var progress = await ProgressAsync(first, server);
        Assert.True(progress[^1].Ready, Describe(progress));
        Assert.Equal($"?token={token}", progress[^1].Url!.Query);
        Assert.Equal(new[] { orphan }, await DockerFixture.ContainerIdsOfAsync(user));
        var ready = Assert.IsType<StartResult.Ready>(await docker.Backend().StartAsync(spec, CancellationToken.None));
        Assert.Equal(progress[^1].Url, ready.Url);

        await first.StopAsync(server, CancellationToken.None);
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(user));
    }

    [Fact]
    public async Task StopAsync_WhileStarting_ConvergesToStoppedWithoutContainer()
    {
        var backend = docker.Backend(new Dictionary<string, string?> { ["Docker:Environment:STANDIN_START_DELAY"] = "30" });
        var user = docker.NewUser();

        var server = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(user, "12.4", []), CancellationToken.None)).Server;
        var starting = Assert.IsType<ServerStatus.Starting>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Equal("Waiting for the server to answer.", starting.Message);

        await backend.StopAsync(server, CancellationToken.None);

        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(user));
        Assert.True(Assert.Single(await ProgressAsync(backend, server)).Failed);
    }

    [Fact]
    public async Task StopAsync_UnknownOrOtherUsersContainer_SucceedsAndTouchesNothingElse()
    {
        var backend = docker.Backend();
        var (owner, other) = (docker.NewUser(), docker.NewUser());
        var owners = Assert.IsType<StartResult.Pending>(await backend.StartAsync(Spec(owner, null, []), CancellationToken.None)).Server;
        var unknown = new ServerRef("docker", Username.Parse(other), RandomNumberGenerator.GetHexString(64, lowercase: true));
        var foreign = new ServerRef("docker", Username.Parse(other), owners.Reference);
        var byName = new ServerRef("docker", Username.Parse(other), other); // a stop before the start was ever answered

        await backend.StopAsync(unknown, CancellationToken.None);
        await backend.StopAsync(foreign, CancellationToken.None);
        await backend.StopAsync(byName, CancellationToken.None);

        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(unknown, CancellationToken.None));
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(foreign, CancellationToken.None)); // not reported as the other's
        Assert.True(Assert.Single(await ProgressAsync(backend, unknown)).Failed);
        var owned = await DockerFixture.InspectAsync(owners.Reference) ?? throw new InvalidOperationException("the owner's container is gone");
        Assert.True(owned.GetProperty("State").GetProperty("Running").GetBoolean());
        Assert.True((await ProgressAsync(backend, owners))[^1].Ready);

        await backend.StopAsync(owners, CancellationToken.None);
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(owner));
    }

    [Fact]
    public async Task PollAsync_ServerExitsAtOnce_StoppedWithExitCodeAndLogThenStartReplacesIt()
    {
        var crashing = docker.Backend(new Dictionary<string, string?> { ["Docker:Environment:STANDIN_EXIT_CODE"] = "3" });
        var user = docker.NewUser();
        var spec = Spec(user, "12.4", []);

        var server = Assert.IsType<StartResult.Pending>(await crashing.StartAsync(spec, CancellationToken.None)).Server;
        var progress = await ProgressAsync(crashing, server);

        Assert.True(progress[^1].Failed, Describe(progress));
        Assert.Contains("exited with code 3", progress[^1].Message, StringComparison.Ordinal);
        Assert.Contains("exiting with code 3 as asked", progress[^1].Message, StringComparison.Ordinal); // its log line
        var stopped = Assert.IsType<ServerStatus.Stopped>(await crashing.PollAsync(server, CancellationToken.None));
        Assert.Contains("exited with code 3", stopped.Reason, StringComparison.Ordinal);

        var restarted = await docker.Backend().StartAsync(spec, CancellationToken.None);

        var replacement = Assert.IsType<StartResult.Pending>(restarted).Server;
        Assert.NotEqual(server.Reference, replacement.Reference);
        Assert.Null(await DockerFixture.InspectAsync(server.Reference));
        Assert.True((await ProgressAsync(crashing, replacement))[^1].Ready);
        Assert.Equal(new[] { replacement.Reference }, await DockerFixture.ContainerIdsOfAsync(user));
        await crashing.StopAsync(replacement, CancellationToken.None);
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(user));
    }

    [Fact]
    public void ContainerDefinition_RequestGpusOn_NvidiaDeviceRequestForTheSpecsGpusOnly()
    {
        var requesting = docker.Backend(new Dictionary<string, string?>
        {
            ["Docker:RequestGpus"] = "true",
            ["Docker:PortRangeStart"] = "40000",
            ["Docker:PortRangeEnd"] = "40099",
        });
        var spec = Spec("gpuuser", "12.4", TwoGpus, cpu: 2, memoryGiB: 8);

        var body = requesting.ContainerDefinition(spec, "portal-cuda:12.4", "t0k3n");

        var json = JsonDocument.Parse(body.ToJsonString()).RootElement;
        var hostConfig = json.GetProperty("HostConfig");
        var request = Assert.Single(hostConfig.GetProperty("DeviceRequests").EnumerateArray());
        Assert.Equal("nvidia", request.GetProperty("Driver").GetString());
        Assert.Equal(TwoGpus.Select(g => g.Uuid), request.GetProperty("DeviceIDs").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal("gpu", request.GetProperty("Capabilities")[0][0].GetString());
        Assert.Equal(2_000_000_000L, hostConfig.GetProperty("NanoCpus").GetInt64());
        Assert.Equal(8L << 30, hostConfig.GetProperty("Memory").GetInt64());
        Assert.Equal("40000-40099", hostConfig.GetProperty("PortBindings").GetProperty("8888/tcp")[0].GetProperty("HostPort").GetString());
        var environment = json.GetProperty("Env").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("JUPYTER_TOKEN=t0k3n", environment);
        Assert.Contains("CUDA_VISIBLE_DEVICES=0,1", environment);
        Assert.DoesNotContain(environment, e => e!.StartsWith("NVIDIA_VISIBLE_DEVICES=", StringComparison.Ordinal)); // the request says it
        // Without GPUs in the spec, or with the option off, no device request.
        var noGpus = requesting.ContainerDefinition(Spec("gpuuser", "12.4", []), "portal-cuda:12.4", "t0k3n");
        Assert.False(noGpus["HostConfig"]!.AsObject().ContainsKey("DeviceRequests"));
        var off = docker.Backend().ContainerDefinition(spec, "portal-cuda:12.4", "t0k3n");
        Assert.False(off["HostConfig"]!.AsObject().ContainsKey("DeviceRequests"));
        Assert.Equal("", off["HostConfig"]!["PortBindings"]!["8888/tcp"]![0]!["HostPort"]!.GetValue<string>());
    }

    [Fact]
    public async Task StartAsync_RequestGpusWithoutNvidiaRuntime_RefusedAndNoContainerLeft()
    {
        var backend = docker.Backend(new Dictionary<string, string?> { ["Docker:RequestGpus"] = "true" });
        var user = docker.NewUser();

        var started = await backend.StartAsync(Spec(user, "12.4", TwoGpus), CancellationToken.None);

        // The device request reached Docker, which has no NVIDIA runtime here (nor these GPUs anywhere).
        var refused = Assert.IsType<StartResult.Refused>(started);
        Assert.Contains("nvidia", refused.Reason, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(user));
    }

    [Fact]
    public async Task StartAsync_ImageNotOnNode_RefusedWithoutContainer()
    {
        var backend = docker.Backend();
        var user = docker.NewUser();

        var started = await backend.StartAsync(Spec(user, "12.9", []), CancellationToken.None);

        var refused = Assert.IsType<StartResult.Refused>(started);
        Assert.Contains("portal-cuda:12.9", refused.Reason, StringComparison.Ordinal);
        Assert.Empty(await DockerFixture.ContainerIdsOfAsync(user));
        Assert.IsType<StartResult.Refused>(await backend.StartAsync(Spec(user, "12.4; rm -rf /", []), CancellationToken.None));
    }

    [Fact]
    public void AddDockerBackend_FromConfiguration_RegistersOneSingletonAndRejectsBadOptions()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Docker:SocketPath"] = "docker.sock",
            ["Docker:PortRangeStart"] = "20000",
            ["Docker:ImageTemplate"] = "portal-cuda:latest",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddDockerBackend(configuration).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<DockerOptions>>().Value);

        Assert.Contains(error.Failures, f => f.Contains("SocketPath", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("PortRangeEnd", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("ImageTemplate", StringComparison.Ordinal));
        var valid = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Docker:SocketPath"] = "/run/docker.sock",
        }).Build();
        using var good = new ServiceCollection().AddLogging().AddDockerBackend(valid)
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var backend = Assert.IsType<DockerBackend>(Assert.Single(good.GetServices<ISpawnerBackend>()));
        Assert.Same(good.GetRequiredService<DockerBackend>(), backend);
        Assert.Equal("docker", backend.Name);
        Assert.Equal(TimeSpan.FromSeconds(120), backend.StartTimeout);
        Assert.Equal("portal-cuda:11.8", backend.ImageFor(Spec("someone", "11.8", [])));
        Assert.Equal("portal-notebook:latest", backend.ImageFor(Spec("someone", null, [])));
    }

    private static ServerSpec Spec(string user, string? toolkit, IReadOnlyList<GpuDevice> gpus, decimal cpu = 1, int memoryGiB = 1) =>
        new(Guid.NewGuid(), Username.Parse(user), toolkit, gpus, new ResourceLimits(cpu, memoryGiB, 20, gpus.Count, gpus.FirstOrDefault()?.Model));

    /// <summary>Creates (does not start) the container the backend would, under the name it would use; its id.</summary>
    private static async Task<string> CreateContainerAsync(DockerBackend backend, ServerSpec spec, string token)
    {
        using var api = DockerFixture.Api();
        var body = backend.ContainerDefinition(spec, backend.ImageFor(spec), token).ToJsonString();
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await api.PostAsync($"containers/create?name=portal-{spec.Username.Value}", content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return created.RootElement.GetProperty("Id").GetString()!;
    }

    private static Task<List<ProgressEvent>> ProgressAsync(ISpawnerBackend backend, ServerRef server) =>
        BackendProgress.CollectAsync(backend, server, Timeout);

    private static string Describe(IEnumerable<ProgressEvent> progress) =>
        string.Join(" | ", progress.Select(p => $"{p.Percent} {p.Message}{(p.Ready ? " ready" : "")}{(p.Failed ? " failed" : "")}"));
}
