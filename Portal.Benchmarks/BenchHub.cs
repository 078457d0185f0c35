using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Portal.Benchmarks;

/// <summary>
/// The `bench` JupyterHub instance of scripts/lib/jupyterhub.sh with a given list of users: seeded straight into its
/// sqlite db while it is stopped (creating 100,000 users through POST /hub/api/users takes ~11 minutes here), reused
/// when its folder already holds exactly those users, then started (timed) and checked through the API.
/// </summary>
public sealed class BenchHub : IDisposable
{
    private const string MarkerFile = "bench-users.sha256";
    private readonly string _root;
    private readonly string _folder;
    private readonly HttpClient _api;

    private BenchHub(string root, string folder, HttpClient api)
    {
        _root = root;
        _folder = folder;
        _api = api;
    }

    public TimeSpan SeedTime { get; private set; }

    public TimeSpan StartTime { get; private set; }

    public bool Reused { get; private set; }

    public int Users { get; private set; }

    public string Version { get; private set; } = "?";

    public Uri BaseAddress => _api.BaseAddress!;

    /// <summary>Makes the bench hub hold exactly <paramref name="usernames"/> and starts it.</summary>
    public static async Task<BenchHub> StartAsync(IReadOnlyList<string> usernames)
    {
        static string Require(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value : throw new InvalidOperationException($"Run through scripts/bench ({name} is not set).");
        var api = new HttpClient { BaseAddress = new Uri(new Uri(Require("PORTAL_JUPYTERHUB_BENCH_URL")), "hub/api/"), Timeout = TimeSpan.FromSeconds(120) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("token", Require("JupyterHub__ApiToken"));
        api.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/jupyterhub-pagination+json"));
        var hub = new BenchHub(Require("PORTAL_BENCH_ROOT"), Require("PORTAL_JUPYTERHUB_BENCH_DIR"), api);
        try
        {
            await hub.PrepareAsync(usernames);
            return hub;
        }
        catch
        {
            hub.Dispose();
            throw;
        }
    }

    private async Task PrepareAsync(IReadOnlyList<string> usernames)
    {
        await ServicesAsync("stop");
        var marker = Path.Combine(_folder, MarkerFile);
        var wanted = Fingerprint(usernames);
        Reused = File.Exists(marker) && (await File.ReadAllTextAsync(marker)).Trim() == wanted;
        if (!Reused)
        {
            if (Directory.Exists(_folder))
            {
                Directory.Delete(_folder, recursive: true);
            }
            // A first start creates the db with JupyterHub's tables and roles; the users go in while it is stopped.
            await ServicesAsync("start");
            await ServicesAsync("stop");
            var names = Path.Combine(_folder, "bench-users.txt");
            await File.WriteAllLinesAsync(names, usernames);
            var clock = Stopwatch.StartNew();
            var seeded = await RunAsync("/usr/bin/python3", [Path.Combine(AppContext.BaseDirectory, "seed_hub_users.py"), Path.Combine(_folder, "jupyterhub.sqlite"), names], null);
            SeedTime = clock.Elapsed;
            File.Delete(names);
            if (seeded.Trim() != usernames.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException($"seeding the bench hub gave {seeded.Trim()} users, not {usernames.Count}");
            }
            await File.WriteAllTextAsync(marker, wanted);
        }

        var start = Stopwatch.StartNew();
        await ServicesAsync("start");
        StartTime = start.Elapsed;
        using (var info = JsonDocument.Parse(await _api.GetStringAsync(new Uri("", UriKind.Relative))))
        {
            Version = info.RootElement.GetProperty("version").GetString() ?? "?";
        }
        Users = await SearchAsync(null, 0, 1);
        if (Users != usernames.Count)
        {
            throw new InvalidOperationException($"the bench hub reports {Users} users, not {usernames.Count}");
        }
    }

    /// <summary>GET /hub/api/users?name_filter=…&amp;offset=…&amp;limit=…; answers the total the hub reports.</summary>
    public async Task<int> SearchAsync(string? nameFilter, int offset, int limit)
    {
        var query = new StringBuilder("users?");
        if (!string.IsNullOrEmpty(nameFilter))
        {
            query.Append("name_filter=").Append(Uri.EscapeDataString(nameFilter)).Append('&');
        }
        query.Append(System.Globalization.CultureInfo.InvariantCulture, $"offset={offset}&limit={limit}");
        using var response = await _api.GetAsync(new Uri(query.ToString(), UriKind.Relative));
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
        return json.RootElement.GetProperty("_pagination").GetProperty("total").GetInt32();
    }

    public Task StopAsync() => ServicesAsync("stop");

    public void Dispose() => _api.Dispose();

    private static string Fingerprint(IReadOnlyList<string> usernames) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', usernames))));

    private Task<string> ServicesAsync(string verb) =>
        RunAsync(Path.Combine(_root, "scripts", "services"), [verb, "test", "jupyterhub"], ("JUPYTERHUB_INSTANCE", "bench"));

    private static async Task<string> RunAsync(string file, IReadOnlyList<string> args, (string Name, string Value)? env)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        if (env is { } e)
        {
            start.Environment[e.Name] = e.Value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot run {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}{await stdout}");
        }
        return await stdout;
    }
}
