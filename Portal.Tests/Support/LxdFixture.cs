using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Infrastructure.Servers.Lxd;

namespace Portal.Tests.Support;

/// <summary>
/// The test LXD (<c>scripts/lib/lxd.sh</c>, started with the other <c>test</c> services: its own daemon and socket,
/// the stand-in images <c>portal-default</c> and <c>portal-cuda-*</c>). Builds backends through
/// <see cref="LxdSetup.AddLxdBackend"/>, talks to LXD directly for what a test checks behind the backend's back, and
/// deletes, at the end, the instance and the home folder of every user it handed out.
/// </summary>
public sealed class LxdFixture : IAsyncLifetime
{
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentBag<ServiceProvider> _providers = [];
    private readonly ConcurrentBag<string> _users = [];
    private readonly Lazy<HttpClient> _http = new(() => new HttpClient(LxdClient.CreateHandler(SocketPath))
    {
        BaseAddress = LxdClient.BaseAddress,
        Timeout = Timeout.InfiniteTimeSpan,
    });

    public static string SocketPath => TestEnvironment.Current["Lxd__SocketPath"];

    public static string HomeRoot => TestEnvironment.Current["Lxd__HomeRoot"];

    public static int PortRangeStart => int.Parse(TestEnvironment.Current["Lxd__PortRangeStart"], CultureInfo.InvariantCulture);

    public static int PortRangeEnd => int.Parse(TestEnvironment.Current["Lxd__PortRangeEnd"], CultureInfo.InvariantCulture);

    /// <summary>LXD's API as the tests use it (the default project).</summary>
    public LxdClient Api => new(_http.Value, "default", OperationTimeout);

    public Task InitializeAsync() => Task.Run(() => _ = TestEnvironment.Current);

    public async Task DisposeAsync()
    {
        foreach (var user in _users)
        {
            await DeleteInstanceAsync(LxdBackend.InstanceName(Portal.Domain.Accounts.Username.Parse(user)));
            var home = Path.Combine(HomeRoot, user);
            if (System.IO.Directory.Exists(home))
            {
                System.IO.Directory.Delete(home, recursive: true);
            }
        }
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
        if (_http.IsValueCreated)
        {
            _http.Value.Dispose();
        }
    }

    /// <summary>A username no other test uses; its instance and home folder are deleted when the test class ends.</summary>
    public string NewUser()
    {
        var user = LdapTestUsers.UniqueUsername("lxd");
        _users.Add(user);
        return user;
    }

    /// <summary>The configuration keys of the test LXD (section <c>Lxd</c>), with <paramref name="settings"/> on top.</summary>
    public static IConfiguration Configuration(IDictionary<string, string?>? settings = null)
    {
        var env = TestEnvironment.Current;
        var values = new Dictionary<string, string?>
        {
            ["Lxd:SocketPath"] = env["Lxd__SocketPath"],
            ["Lxd:HomeRoot"] = env["Lxd__HomeRoot"],
            ["Lxd:PortRangeStart"] = env["Lxd__PortRangeStart"],
            ["Lxd:PortRangeEnd"] = env["Lxd__PortRangeEnd"],
            ["Lxd:DefaultImage"] = env["Lxd__DefaultImage"],
            ["Lxd:ImageTemplate"] = env["Lxd__ImageTemplate"],
            ["Lxd:AttachGpus"] = env["Lxd__AttachGpus"],
            ["Lxd:PollIntervalMilliseconds"] = "100",
            ["Lxd:StartTimeoutSeconds"] = "30",
            ["Lxd:StopTimeoutSeconds"] = "30",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }
        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    /// <summary>A backend as the portal builds it, from configuration keys.</summary>
    public LxdBackend Backend(IDictionary<string, string?>? settings = null) => Provider(settings).GetRequiredService<LxdBackend>();

    /// <summary>The options a backend of <see cref="Backend"/> with these settings has.</summary>
    public LxdOptions Options(IDictionary<string, string?>? settings = null) =>
        Provider(settings).GetRequiredService<IOptions<LxdOptions>>().Value;

    /// <summary><c>GET /1.0/instances/NAME?recursion=1</c> (config, devices, state), or null when there is none.</summary>
    public async Task<JsonElement?> InstanceAsync(string name)
    {
        var response = await Api.GetAsync($"/1.0/instances/{name}?recursion=1", CancellationToken.None);
        if (response.IsNotFound)
        {
            return null;
        }
        Assert.False(response.IsError, response.Error);
        return response.Metadata;
    }

    /// <summary>The names of the instances whose config says they are this user's (<c>user.portal.user</c>).</summary>
    public async Task<IReadOnlyList<string>> InstancesOfAsync(string user)
    {
        var response = await Api.GetAsync("/1.0/instances?recursion=1", CancellationToken.None);
        Assert.False(response.IsError, response.Error);
        return [.. response.Metadata.EnumerateArray()
            .Where(i => i.GetProperty("config").TryGetProperty(LxdBackend.UserKey, out var owner) && owner.GetString() == user)
            .Select(i => i.GetProperty("name").GetString()!)];
    }

    /// <summary>Creates an instance (not started) from a request body, as a portal that died right after would leave it.</summary>
    public async Task CreateInstanceAsync(JsonObject request)
    {
        var created = await Api.RunAsync(HttpMethod.Post, "/1.0/instances", request, OperationTimeout, CancellationToken.None);
        Assert.True(created.Succeeded, created.Error);
    }

    /// <summary>Runs a command in a running instance (<c>POST /1.0/instances/NAME/exec</c>, output recorded).</summary>
    public async Task<(int ExitCode, string Output)> ExecAsync(string name, params string[] command)
    {
        var request = new JsonObject
        {
            ["command"] = new JsonArray([.. command.Select(c => (JsonNode?)JsonValue.Create(c))]),
            ["record-output"] = true,
            ["interactive"] = false,
            ["wait-for-websocket"] = false,
        };
        var done = await Api.RunAsync(HttpMethod.Post, $"/1.0/instances/{name}/exec", request, OperationTimeout, CancellationToken.None);
        Assert.True(done.Succeeded, done.Error);
        var exitCode = done.Metadata.GetProperty("return").GetInt32();
        var stdout = done.Metadata.GetProperty("output").GetProperty("1").GetString()!;
        return (exitCode, await Api.GetTextAsync(stdout, CancellationToken.None) ?? "");
    }

    /// <summary>The host pid of the instance's server process: the <c>httpd</c> its init started; null while there is none.</summary>
    public async Task<int?> ServerPidAsync(string name)
    {
        if (await InstanceAsync(name) is not { } instance
            || !instance.TryGetProperty("state", out var state) || state.ValueKind != JsonValueKind.Object
            || state.GetProperty("pid").GetInt32() is not (> 0 and var init))
        {
            return null;
        }
        var children = File.ReadAllText($"/proc/{init}/task/{init}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var child in children.Select(c => int.Parse(c, CultureInfo.InvariantCulture)))
        {
            if (File.ReadAllText($"/proc/{child}/comm").Trim() == "httpd")
            {
                return child;
            }
        }
        return null;
    }

    /// <summary>The memory limit of a process's cgroup in bytes (cgroup v1 <c>memory.limit_in_bytes</c> or v2 <c>memory.max</c>).</summary>
    public static long MemoryLimit(int pid)
    {
        foreach (var line in File.ReadAllLines($"/proc/{pid}/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts[1].Split(',').Contains("memory"))
            {
                return long.Parse(File.ReadAllText($"/sys/fs/cgroup/memory{parts[2]}/memory.limit_in_bytes").Trim(), CultureInfo.InvariantCulture);
            }
        }
        var unified = File.ReadAllLines($"/proc/{pid}/cgroup").Single(l => l.StartsWith("0::", StringComparison.Ordinal))[3..];
        return long.Parse(File.ReadAllText($"/sys/fs/cgroup{unified}/memory.max").Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Stops (forced) and deletes an instance straight through the API; not there is fine.</summary>
    public async Task DeleteInstanceAsync(string name)
    {
        if (await InstanceAsync(name) is not { } instance)
        {
            return;
        }
        if (instance.GetProperty("status").GetString() != "Stopped")
        {
            await Api.RunAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new JsonObject { ["action"] = "stop", ["force"] = true },
                OperationTimeout, CancellationToken.None);
        }
        await Api.RunAsync(HttpMethod.Delete, $"/1.0/instances/{name}", null, OperationTimeout, CancellationToken.None);
    }

    private ServiceProvider Provider(IDictionary<string, string?>? settings)
    {
        var provider = new ServiceCollection()
            .AddLogging()
            .AddLxdBackend(Configuration(settings))
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _providers.Add(provider);
        return provider;
    }
}
