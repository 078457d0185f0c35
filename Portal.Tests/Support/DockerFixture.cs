using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Portal.Infrastructure.Servers.Docker;

namespace Portal.Tests.Support;

/// <summary>
/// The test dockerd (<c>scripts/lib/docker.sh</c>, started with the other <c>test</c> services: its own socket, bridge
/// and images <c>portal-notebook:latest</c> and <c>portal-cuda:&lt;version&gt;</c>, whose program is a stand-in for
/// Jupyter). Builds backends through <see cref="DockerSetup.AddDockerBackend"/> over folders of its own (homes, shared
/// data), and removes, at the end, every container of the users it handed out.
/// </summary>
public sealed class DockerFixture : IAsyncLifetime
{
    private readonly ConcurrentBag<ServiceProvider> _providers = [];
    private readonly ConcurrentBag<string> _users = [];

    public DockerFixture()
    {
        Root = System.IO.Directory.CreateTempSubdirectory("portal-docker-").FullName;
        HomeRoot = Path.Combine(Root, "homes");
        DataPath = System.IO.Directory.CreateDirectory(Path.Combine(Root, "data")).FullName;
        File.WriteAllText(Path.Combine(DataPath, "README"), "shared course data\n");
    }

    public static string SocketPath => TestEnvironment.Current["Docker__SocketPath"];

    public string Root { get; }

    public string HomeRoot { get; }

    /// <summary>The shared data folder the backends mount read-only.</summary>
    public string DataPath { get; }

    public Task InitializeAsync() => Task.Run(() => _ = TestEnvironment.Current);

    public async Task DisposeAsync()
    {
        using var api = Api();
        foreach (var user in _users)
        {
            foreach (var id in await ContainerIdsOfAsync(user))
            {
                using var _ = await api.DeleteAsync($"containers/{id}?force=1&v=1");
            }
        }
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
        System.IO.Directory.Delete(Root, recursive: true);
    }

    /// <summary>A username no other test uses; its containers are removed when the test class ends.</summary>
    public string NewUser()
    {
        var user = LdapTestUsers.UniqueUsername("dkr");
        _users.Add(user);
        return user;
    }

    /// <summary>A backend as the portal builds it, from configuration keys (section <c>Docker</c>) and the test services' settings.</summary>
    public DockerBackend Backend(IDictionary<string, string?>? settings = null)
    {
        var environment = TestEnvironment.Current;
        var values = new Dictionary<string, string?>
        {
            ["Docker:SocketPath"] = SocketPath,
            ["Docker:DefaultImage"] = environment["Docker__DefaultImage"],
            ["Docker:ImageTemplate"] = environment["Docker__ImageTemplate"],
            ["Docker:RequestGpus"] = environment["Docker__RequestGpus"],
            ["Docker:HomeRoot"] = HomeRoot,
            ["Docker:SharedDataPath"] = DataPath,
            ["Docker:StartTimeoutSeconds"] = "30",
            ["Docker:StopTimeoutSeconds"] = "5",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var provider = new ServiceCollection()
            .AddLogging()
            .AddDockerBackend(configuration)
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _providers.Add(provider);
        return provider.GetRequiredService<DockerBackend>();
    }

    /// <summary>The Engine API of the test dockerd, for what a test checks (or prepares) behind the backend's back.</summary>
    public static HttpClient Api() => new(DockerSetup.SocketHandler(SocketPath))
    {
        BaseAddress = DockerBackend.ApiBase,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary><c>GET /containers/{id}/json</c>; null when there is no such container.</summary>
    public static async Task<JsonElement?> InspectAsync(string idOrName)
    {
        using var api = Api();
        using var response = await api.GetAsync($"containers/{idOrName}/json");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>The ids of every container (any state) labelled as the user's.</summary>
    public static async Task<IReadOnlyList<string>> ContainerIdsOfAsync(string user)
    {
        using var api = Api();
        var filters = Uri.EscapeDataString($$"""{"label":["{{DockerBackend.UserLabel}}={{user}}"]}""");
        using var response = await api.GetAsync($"containers/json?all=1&filters={filters}");
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. document.RootElement.EnumerateArray().Select(c => c.GetProperty("Id").GetString()!)];
    }

    /// <summary>The container's environment (<c>Config.Env</c>) as a dictionary.</summary>
    public static IReadOnlyDictionary<string, string> Environment(JsonElement container) =>
        container.GetProperty("Config").GetProperty("Env").EnumerateArray()
            .Select(e => e.GetString()!.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : "", StringComparer.Ordinal);
}
