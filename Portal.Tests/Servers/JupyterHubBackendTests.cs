using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers.JupyterHub;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>
/// The JupyterHub backend against the real test hub (JupyterHub 3.0 from Debian, SimpleLocalProcessSpawner, classic
/// Notebook 6.4 single-user servers); each test has hub users of its own.
/// </summary>
public sealed class JupyterHubBackendTests(HubFixture hub) : IClassFixture<HubFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly GpuDevice[] TwoGpus =
    [
        new(0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"),
        new(1, "GPU-11111111-1111-1111-1111-111111111111", "NVIDIA A100-SXM4-40GB", 40960, "550.54.15"),
    ];

    [Fact]
    public async Task StartAsync_NewUser_ReadyServerAnswersWithSpecEnvironmentAndStops()
    {
        var backend = hub.Backend();
        var user = hub.NewUser();

        var started = await backend.StartAsync(Spec(user, "12.4", TwoGpus), CancellationToken.None);

        var server = Assert.IsType<StartResult.Pending>(started).Server; // slow_spawn_timeout 0: always 202
        Assert.Equal(new ServerRef("jupyterhub", Username.Parse(user), user), server);
        var progress = await ProgressAsync(backend, server);
        Assert.True(progress[^1].Ready, Describe(progress));
        Assert.Equal(100, progress[^1].Percent);
        Assert.All(progress[..^1], p => Assert.False(p.Ready || p.Failed));
        var running = Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None));
        Assert.NotNull(running.LastActivity);
        Assert.Equal(new Uri(HubFixture.BaseUrl), new Uri(running.Url.GetLeftPart(UriPartial.Authority) + "/"));
        Assert.Equal($"/user/{user}/", running.Url.AbsolutePath);
        Assert.StartsWith("?token=", running.Url.Query, StringComparison.Ordinal);
        Assert.Equal(running.Url, progress[^1].Url);

        using var browser = new HttpClient();
        using var tree = await browser.GetAsync(running.Url);
        Assert.Equal(HttpStatusCode.OK, tree.StatusCode);
        Assert.Equal($"/user/{user}/tree", tree.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.Contains("id=\"notebook_list\"", await tree.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var fresh = new HttpClient(new SocketsHttpHandler { UseCookies = false }); // no cookie from the link
        using var status = await fresh.GetAsync(new Uri(running.Url, $"api/status{running.Url.Query}"));
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        using var withoutToken = await fresh.GetAsync(new Uri(running.Url, "api/status"));
        Assert.NotEqual(HttpStatusCode.OK, withoutToken.StatusCode);

        var pid = await HubFixture.ServerPidAsync(user) ?? throw new InvalidOperationException("no pid in the spawner's state");
        var environment = HubFixture.ProcessEnvironment(pid);
        Assert.Equal("12.4", environment["CUDA_VERSION"]);
        Assert.Equal("/usr/local/cuda-12.4", environment["CUDA_HOME"]);
        Assert.Equal("0,1", environment["CUDA_VISIBLE_DEVICES"]);
        Assert.Equal("4294967296", environment["MEM_LIMIT"]);
        Assert.DoesNotContain(environment.Values, v => v.Contains(HubFixture.ApiToken, StringComparison.Ordinal));
        var linkToken = running.Url.Query["?token=".Length..];
        using (var identity = await WhoAmIAsync(fresh, linkToken))
        {
            Assert.Equal(HttpStatusCode.OK, identity.StatusCode); // the link's token is the user's
            Assert.Contains($"\"name\": \"{user}\"", await identity.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await backend.StopAsync(server, CancellationToken.None);

        Assert.Equal(new ServerStatus.Stopped(null), await backend.PollAsync(server, CancellationToken.None));
        Assert.Empty(await HubFixture.ServerNamesAsync(user));
        Assert.True(await EventuallyAsync(() => Task.FromResult(!HubFixture.ProcessAlive(pid))), $"pid {pid} ended");
        Assert.Empty(await ProgressAsync(backend, server));
        // The open link's token was revoked with the stop.
        using var afterStop = await WhoAmIAsync(fresh, linkToken);
        Assert.Equal(HttpStatusCode.Forbidden, afterStop.StatusCode);
    }

    [Fact]
    public async Task StartAsync_Twice_OneServerAndSecondAnswerReady()
    {
        var backend = hub.Backend();
        var user = hub.NewUser();
        var spec = Spec(user, "12.1", []);

        var first = await backend.StartAsync(spec, CancellationToken.None);
        var pending = Assert.IsType<StartResult.Pending>(first);
        Assert.True((await ProgressAsync(backend, pending.Server))[^1].Ready);
        var pid = await HubFixture.ServerPidAsync(user);
        var second = await backend.StartAsync(spec, CancellationToken.None);

        var ready = Assert.IsType<StartResult.Ready>(second); // 400 "already running" is success
        Assert.Equal(pending.Server, ready.Server);
        Assert.Equal($"/user/{user}/", ready.Url.AbsolutePath);
        Assert.Equal(new[] { "" }, await HubFixture.ServerNamesAsync(user));
        Assert.Equal(pid, await HubFixture.ServerPidAsync(user));
        Assert.Equal("", HubFixture.ProcessEnvironment(pid!.Value)["CUDA_VISIBLE_DEVICES"]);
        // Following the progress of a server that is already ready: one ready event.
        var progress = await ProgressAsync(backend, ready.Server);
        Assert.True(Assert.Single(progress).Ready);

        await backend.StopAsync(ready.Server, CancellationToken.None);
        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(ready.Server, CancellationToken.None));
    }

    [Fact]
    public async Task StartAsync_TwentyConcurrentForOneUser_OneServer()
    {
        var backend = hub.Backend();
        var user = hub.NewUser();
        var spec = Spec(user, "12.4", TwoGpus);

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => backend.StartAsync(spec, CancellationToken.None))));

        Assert.All(results, r => Assert.True(r is StartResult.Pending or StartResult.Ready, r.ToString()));
        var server = results[0] switch
        {
            StartResult.Pending p => p.Server,
            StartResult.Ready r => r.Server,
            var other => throw new InvalidOperationException(other.ToString()),
        };
        Assert.True((await ProgressAsync(backend, server))[^1].Ready);
        Assert.Equal(new[] { "" }, await HubFixture.ServerNamesAsync(user));
        var pid = await HubFixture.ServerPidAsync(user) ?? throw new InvalidOperationException("no pid");
        Assert.True(HubFixture.ProcessAlive(pid));
        // The hub spawned once: a second start would have left a second process of this user's server behind.
        Assert.Single(SingleUserProcessesOf(user));

        await backend.StopAsync(server, CancellationToken.None);
        Assert.True(await EventuallyAsync(() => Task.FromResult(SingleUserProcessesOf(user).Count == 0)), "the server process ended");
    }

    [Fact]
    public async Task StopAsync_WhileStarting_ConvergesToStopped()
    {
        var backend = hub.Backend();
        var user = hub.NewUser();

        var started = await backend.StartAsync(Spec(user, "12.4", TwoGpus), CancellationToken.None);
        var server = Assert.IsType<StartResult.Pending>(started).Server;
        Assert.IsType<ServerStatus.Starting>(await backend.PollAsync(server, CancellationToken.None));

        await backend.StopAsync(server, CancellationToken.None); // the hub says "pending spawn, please wait": it waits

        Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Empty(await HubFixture.ServerNamesAsync(user));
        Assert.True(await EventuallyAsync(() => Task.FromResult(SingleUserProcessesOf(user).Count == 0)), "no server process left");
    }

    [Fact]
    public async Task StopAsync_NeverStartedUser_SucceedsAndPollSaysStopped()
    {
        var backend = hub.Backend();
        var user = hub.NewUser();
        var server = new ServerRef("jupyterhub", Username.Parse(user), user);

        await backend.StopAsync(server, CancellationToken.None);
        await backend.StopAsync(server, CancellationToken.None);

        Assert.Equal(new ServerStatus.Stopped(null), await backend.PollAsync(server, CancellationToken.None));
        Assert.Empty(await ProgressAsync(backend, server));
        Assert.Null(await HubFixture.HubUserAsync(user)); // stopping creates no hub user
    }

    [Fact]
    public async Task StartAsync_HubSpawnLimitOneAndTwoUsersAtOnce_BothEndRunning()
    {
        await hub.StartLimitedHubAsync();
        var backend = hub.Backend(HubFixture.LimitedBaseUrl);
        var users = new[] { hub.NewUser(HubFixture.LimitedBaseUrl), hub.NewUser(HubFixture.LimitedBaseUrl) };
        using var together = new Barrier(users.Length);

        var results = await Task.WhenAll(users.Select(user => Task.Run(() =>
        {
            together.SignalAndWait();
            return backend.StartAsync(Spec(user, "11.8", TwoGpus[..1]), CancellationToken.None);
        })));

        var servers = results.Select(r => r switch
        {
            StartResult.Pending p => p.Server,
            StartResult.Ready r2 => r2.Server,
            var other => throw new InvalidOperationException($"start not accepted: {other}"),
        }).ToList();
        foreach (var server in servers)
        {
            Assert.True(await EventuallyAsync(async () => await backend.PollAsync(server, CancellationToken.None) is ServerStatus.Running),
                $"{server.Reference} running");
        }
        // The second start was throttled (429) and retried after the hub's Retry-After.
        Assert.Contains(hub.Log, line => line.Contains("spawning too many servers", StringComparison.Ordinal)
            && users.Any(u => line.Contains(u, StringComparison.Ordinal)));
        foreach (var user in users)
        {
            var pid = await HubFixture.ServerPidAsync(user, HubFixture.LimitedBaseUrl) ?? throw new InvalidOperationException("no pid");
            Assert.Equal("11.8", HubFixture.ProcessEnvironment(pid)["CUDA_VERSION"]);
            Assert.Equal("0", HubFixture.ProcessEnvironment(pid)["CUDA_VISIBLE_DEVICES"]);
        }

        await Task.WhenAll(servers.Select(s => backend.StopAsync(s, CancellationToken.None)));
        foreach (var server in servers)
        {
            Assert.IsType<ServerStatus.Stopped>(await backend.PollAsync(server, CancellationToken.None));
        }
    }

    [Fact]
    public async Task StartAsync_ToolkitTheHubRejects_ProgressEndsFailedAndPollSaysFailed()
    {
        var backend = hub.Backend();
        var user = hub.NewUser();

        var started = await backend.StartAsync(Spec(user, "not-a-toolkit", TwoGpus), CancellationToken.None);

        // The hub's pre_spawn_hook refuses the option. Whether that happens before the hub answers (500: Refused) or just
        // after (202: Pending, then the progress ends failed) is up to its event loop; both carry the hook's message.
        var server = new ServerRef("jupyterhub", Username.Parse(user), user);
        var reason = started switch
        {
            StartResult.Refused refused => refused.Reason,
            StartResult.Pending pending => (await ProgressAsync(backend, pending.Server)) is [.., { Failed: true } last] ? last.Message : "no failed event",
            var other => $"unexpected {other}",
        };
        Assert.Contains("unsupported CUDA toolkit 'not-a-toolkit'", reason, StringComparison.Ordinal);
        var failed = Assert.IsType<ServerStatus.Failed>(await backend.PollAsync(server, CancellationToken.None));
        Assert.Contains("unsupported CUDA toolkit 'not-a-toolkit'", failed.Reason, StringComparison.Ordinal);
        Assert.Empty(await HubFixture.ServerNamesAsync(user));
        var progress = await ProgressAsync(backend, server);
        Assert.True(Assert.Single(progress).Failed, Describe(progress));

        // The next start with a good toolkit works, and the failure is forgotten.
        var again = await backend.StartAsync(Spec(user, "12.4", TwoGpus), CancellationToken.None);
        Assert.True((await ProgressAsync(backend, Assert.IsType<StartResult.Pending>(again).Server))[^1].Ready);
        Assert.IsType<ServerStatus.Running>(await backend.PollAsync(server, CancellationToken.None));
        await backend.StopAsync(server, CancellationToken.None);
        Assert.Equal(new ServerStatus.Stopped(null), await backend.PollAsync(server, CancellationToken.None));
    }

    [Fact]
    public async Task StartAsync_WrongToken_ThrowsForbiddenWithoutStarting()
    {
        var backend = hub.Backend(token: "not-the-portal-token-0123456789");
        var user = hub.NewUser();

        var error = await Assert.ThrowsAsync<JupyterHubException>(() => backend.StartAsync(Spec(user, "12.4", TwoGpus), CancellationToken.None));

        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.DoesNotContain("not-the-portal-token", error.Message, StringComparison.Ordinal);
        Assert.Null(await HubFixture.HubUserAsync(user));
    }

    [Fact]
    public void AddJupyterHubBackend_WithoutToken_FailsValidation()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["JupyterHub:BaseUrl"] = "ftp://127.0.0.1:28000/",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddJupyterHubBackend(configuration).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<JupyterHubOptions>>().Value);

        Assert.Contains(error.Failures, f => f.Contains("ApiToken", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("BaseUrl", StringComparison.Ordinal));
        var valid = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["JupyterHub:BaseUrl"] = "http://127.0.0.1:28000",
            ["JupyterHub:ApiToken"] = "0123456789abcdef",
        }).Build();
        using var good = new ServiceCollection().AddLogging().AddJupyterHubBackend(valid)
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var backend = Assert.IsType<JupyterHubBackend>(Assert.Single(good.GetServices<ISpawnerBackend>()));
        Assert.Same(good.GetRequiredService<JupyterHubBackend>(), backend);
        Assert.Equal("jupyterhub", backend.Name);
        Assert.Equal(TimeSpan.FromSeconds(120), backend.StartTimeout);
    }

    private static ServerSpec Spec(string user, string? toolkit, IReadOnlyList<GpuDevice> gpus) =>
        new(Guid.NewGuid(), Username.Parse(user), toolkit, gpus, new ResourceLimits(2, 4, 20, gpus.Count, gpus.FirstOrDefault()?.Model));

    private static Task<List<ProgressEvent>> ProgressAsync(ISpawnerBackend backend, ServerRef server) =>
        BackendProgress.CollectAsync(backend, server, Timeout);

    /// <summary><c>GET /hub/api/user</c> with a token: whose it is (403 once revoked).</summary>
    private static Task<HttpResponseMessage> WhoAmIAsync(HttpClient client, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(JupyterHubBackend.ApiBase(HubFixture.BaseUrl), "user"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("token", token);
        return client.SendAsync(request);
    }

    private static string Describe(IEnumerable<ProgressEvent> progress) =>
        string.Join(" | ", progress.Select(p => $"{p.Percent} {p.Message}{(p.Ready ? " ready" : "")}{(p.Failed ? " failed" : "")}"));

    /// <summary>Single-user server processes whose command line names this user's server.</summary>
    private static List<int> SingleUserProcessesOf(string user) =>
        [.. System.IO.Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && HubFixture.ProcessAlive(pid))
            .Where(pid =>
            {
                try
                {
                    return File.ReadAllText($"/proc/{pid}/comm").Trim() == "jupyterhub-sing"
                        && HubFixture.ProcessEnvironment(pid).TryGetValue("JUPYTERHUB_USER", out var owner) && owner == user;
                }
                catch (IOException)
                {
                    return false;
                }
            })];

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
}
