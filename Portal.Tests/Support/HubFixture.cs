using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Infrastructure.Servers.JupyterHub;

namespace Portal.Tests.Support;

/// <summary>
/// The test JupyterHub (<c>scripts/lib/jupyterhub.sh</c>, started with the other <c>test</c> services) and, on demand,
/// its second instance with <c>concurrent_spawn_limit</c> 1 (<c>JUPYTERHUB_INSTANCE=limited</c>), which this fixture
/// starts and stops. Builds backends through <see cref="JupyterHubSetup.AddJupyterHubBackend"/> and stops, at the end,
/// every server of the users it handed out.
/// </summary>
public sealed class HubFixture : IAsyncLifetime
{
    private readonly ConcurrentBag<ServiceProvider> _providers = [];
    private readonly ConcurrentBag<(string BaseUrl, string User)> _users = [];
    private readonly SemaphoreSlim _limitedStart = new(1, 1);
    private bool _limitedStarted;

    public static string BaseUrl => TestEnvironment.Current["JupyterHub__BaseUrl"];

    public static string ApiToken => TestEnvironment.Current["JupyterHub__ApiToken"];

    /// <summary>The hub with <c>concurrent_spawn_limit</c> 1; call <see cref="StartLimitedHubAsync"/> first.</summary>
    public static string LimitedBaseUrl => TestEnvironment.Current["PORTAL_JUPYTERHUB_LIMITED_URL"];

    /// <summary>What the backends built here logged (message text), for tests that check a path was taken.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public Task InitializeAsync() => Task.Run(() => _ = TestEnvironment.Current);

    public async Task DisposeAsync()
    {
        foreach (var (baseUrl, user) in _users)
        {
            using var api = Api(baseUrl);
            using var _ = await api.DeleteAsync($"users/{user}");
        }
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
        // The limited hub is shared by every class that asks for it: one class ending must not stop it under another
        // (a fresh-clone run failed that way). It stops with the other test services (scripts/services stop test).
        _limitedStart.Dispose();
    }

    /// <summary>A hub user name no other test uses; its server is stopped when the test class ends.</summary>
    public string NewUser(string? baseUrl = null)
    {
        var user = LdapTestUsers.UniqueUsername("hub");
        _users.Add((baseUrl ?? BaseUrl, user));
        return user;
    }

    /// <summary>A backend as the portal builds it, from configuration keys (section <c>JupyterHub</c>).</summary>
    public JupyterHubBackend Backend(string? baseUrl = null, string? token = null, IDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["JupyterHub:BaseUrl"] = baseUrl ?? BaseUrl,
            ["JupyterHub:ApiToken"] = token ?? ApiToken,
            ["JupyterHub:PollIntervalMilliseconds"] = "100",
            ["JupyterHub:StartTimeoutSeconds"] = "60",
            ["JupyterHub:StopTimeoutSeconds"] = "60",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var provider = new ServiceCollection()
            .AddLogging(logging => logging.AddProvider(new QueueLoggerProvider(Log)))
            .AddJupyterHubBackend(configuration)
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _providers.Add(provider);
        return provider.GetRequiredService<JupyterHubBackend>();
    }

    /// <summary>The hub's REST API as the portal service, for what a test checks behind the backend's back.</summary>
    public static HttpClient Api(string? baseUrl = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false })
        {
            BaseAddress = JupyterHubBackend.ApiBase(baseUrl ?? BaseUrl),
            Timeout = TimeSpan.FromSeconds(30),
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("token", ApiToken);
        return client;
    }

    /// <summary><c>GET /users/NAME</c> as JSON; null for an unknown user.</summary>
    public static async Task<JsonElement?> HubUserAsync(string user, string? baseUrl = null)
    {
        using var api = Api(baseUrl);
        using var response = await api.GetAsync($"users/{user}");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>The names of the user's servers the hub lists (<c>""</c> is the default server).</summary>
    public static async Task<IReadOnlyList<string>> ServerNamesAsync(string user, string? baseUrl = null)
    {
        var model = await HubUserAsync(user, baseUrl);
        return model is { } m && m.TryGetProperty("servers", out var servers)
            ? [.. servers.EnumerateObject().Select(s => s.Name)]
            : [];
    }

    /// <summary>The pid of the user's single-user server (the spawner's state), or null when it has none.</summary>
    public static async Task<int?> ServerPidAsync(string user, string? baseUrl = null)
    {
        var model = await HubUserAsync(user, baseUrl);
        return model is { } m && m.GetProperty("servers").TryGetProperty("", out var server)
            && server.TryGetProperty("state", out var state) && state.ValueKind == JsonValueKind.Object
            && state.TryGetProperty("pid", out var pid)
            ? pid.GetInt32()
            : null;
    }

    /// <summary>The environment a process started with (<c>/proc/PID/environ</c>).</summary>
    public static IReadOnlyDictionary<string, string> ProcessEnvironment(int pid)
    {
        var text = Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/environ"));
        return text.Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => entry.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .GroupBy(pair => pair[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First()[1], StringComparer.Ordinal);
    }

    public static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Starts the hub with <c>concurrent_spawn_limit</c> 1 (once per fixture; stopped at the end).</summary>
    public async Task StartLimitedHubAsync()
    {
        await _limitedStart.WaitAsync();
        try
        {
            if (!_limitedStarted)
            {
                await Task.Run(() => RunServices("start"));
                _limitedStarted = true;
            }
        }
        finally
        {
            _limitedStart.Release();
        }
    }

    private static void RunServices(string command)
    {
        var script = Path.Combine(TestEnvironment.RepositoryRoot, "scripts", "services");
        var start = new ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { command, "test", "jupyterhub" })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["JUPYTERHUB_INSTANCE"] = "limited";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not run {script}.");
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"JUPYTERHUB_INSTANCE=limited scripts/services {command} test jupyterhub failed ({process.ExitCode}): {stderr.Result}");
        }
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> queue) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(queue);

        public void Dispose()
        {
        }
    }

    private sealed class QueueLogger(ConcurrentQueue<string> queue) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                queue.Enqueue(formatter(state, exception));
            }
        }
    }
}
