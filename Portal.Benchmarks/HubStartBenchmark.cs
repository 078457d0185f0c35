using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Persistence.Migrations;
using Portal.Infrastructure.Servers;

namespace Portal.Benchmarks;

/// <summary>
/// N users start at once on the JupyterHub backend: the time until all are ready through the portal (requests,
/// Hangfire jobs, the backend, the database), against the same N starts sent straight to the hub's REST API in the same
/// run; the ratio, spawn percentiles, and duplicates (a user with more than one server or session).
/// </summary>
public static class HubStartBenchmark
{
    public static async Task<int> RunAsync(int users, TimeSpan limit)
    {
        var hubUrl = Environment.GetEnvironmentVariable("JupyterHub__BaseUrl") ?? throw new InvalidOperationException("Run through scripts/bench (JupyterHub__BaseUrl is not set).");
        var token = Environment.GetEnvironmentVariable("JupyterHub__ApiToken")!;
        var run = DateTime.UtcNow.ToString("HHmmss", System.Globalization.CultureInfo.InvariantCulture);
        var database = await BenchDatabase.CreateAsync();
        try
        {
            using var api = Api(hubUrl, token);
            await CleanUpAsync(api, await LeftoversAsync(api));
            Console.WriteLine($"users: {users}   hub: {hubUrl}   cores: {Environment.ProcessorCount}");

            var portalNames = Enumerable.Range(0, users).Select(i => $"bp{run}x{i}").ToList();
            var portal = await ThroughPortalAsync(database.ConnectionString, portalNames, limit);
            var portalDuplicates = 0;
            foreach (var name in portalNames)
            {
                portalDuplicates += Math.Max(0, await ServerCountAsync(api, name) - 1);
            }
            await CleanUpAsync(api, portalNames);

            var directNames = Enumerable.Range(0, users).Select(i => $"bd{run}x{i}").ToList();
            var direct = await DirectAsync(api, directNames, limit);
            var directDuplicates = 0;
            foreach (var name in directNames)
            {
                directDuplicates += Math.Max(0, await ServerCountAsync(api, name) - 1);
            }
            await CleanUpAsync(api, directNames);

            Console.WriteLine();
            Console.WriteLine($"{"path",-28} {"all ready (s)",14} {"p50 (s)",9} {"p95 (s)",9} {"failed",7} {"duplicates",11}");
            Print("portal (jobs → hub)", portal, portal.Duplicates + portalDuplicates);
            Print("hub REST API directly", direct, directDuplicates);
            Console.WriteLine($"ratio portal / hub: {portal.Total.TotalSeconds / direct.Total.TotalSeconds:F2} (time until the last ready server)");
            // When the hub alone loses servers, its time covers fewer of them: the time per ready server compares rates.
            var portalReady = users - portal.Failed;
            var directReady = users - direct.Failed;
            if (portalReady > 0 && directReady > 0)
            {
                Console.WriteLine($"ratio per ready server: {portal.Total.TotalSeconds / portalReady / (direct.Total.TotalSeconds / directReady):F2} "
                    + $"(portal {portalReady}, hub {directReady} ready)");
            }
            return portal.Failed == 0 && portal.Duplicates + portalDuplicates == 0 ? 0 : 1;
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    private sealed record Result(TimeSpan Total, IReadOnlyList<double> Seconds, int Failed, int Duplicates);

    private static void Print(string name, Result r, int duplicates) =>
        Console.WriteLine($"{name,-28} {r.Total.TotalSeconds,14:F1} {Figures.Percentile(r.Seconds, 0.5),9:F1} {Figures.Percentile(r.Seconds, 0.95),9:F1} {r.Failed,7} {duplicates,11}");

    private static async Task<Result> ThroughPortalAsync(string connectionString, IReadOnlyList<string> names, TimeSpan limit)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Portal"] = connectionString;
        builder.Configuration["Servers:Backend"] = "jupyterhub";
        builder.Configuration["Servers:DiscoverGpus"] = "false";
        builder.Configuration["Logging:LogLevel:Default"] = "Warning";
        builder.Services.AddPortalInfrastructure(builder.Configuration);
        using var host = builder.Build();
        await host.Services.GetRequiredService<SqlMigrationRunner>().ApplyAsync(CancellationToken.None);
        // The benchmark measures spawning, not GPU scheduling: the default plan asks for no GPU here.
        await BenchDatabase.ExecuteAsync(connectionString, "UPDATE resource_plans SET gpu_count = 0");
        await host.StartAsync();
        var servers = host.Services.GetRequiredService<ServerService>();
        var contexts = host.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>();

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(names.Select(n => Task.Run(() => servers.StartAsync(Username.Parse(n), null, null, CancellationToken.None))));
        int running = 0, failed = 0;
        while (clock.Elapsed < limit)
        {
            await using var db = await contexts.CreateDbContextAsync();
            running = await db.Servers.CountAsync(s => s.Observed == ServerState.Running);
            failed = await db.Servers.CountAsync(s => s.Observed == ServerState.Failed);
            if (running + failed == names.Count)
            {
                break;
            }
            await Task.Delay(100);
        }
        var total = clock.Elapsed;
        List<double> seconds;
        int duplicates;
        await using (var db = await contexts.CreateDbContextAsync())
        {
            var sessions = await db.ServerSessions.AsNoTracking().ToListAsync();
            seconds = [.. sessions.Where(s => s.ReadyAt is not null).Select(s => (s.ReadyAt!.Value - s.RequestedAt).TotalSeconds)];
            duplicates = sessions.GroupBy(s => s.Username).Sum(g => g.Count() - 1);
        }
        Console.WriteLine($"portal: {running} running, {failed} failed after {total.TotalSeconds:F1} s");
        foreach (var name in names)
        {
            await servers.StopAsync(Username.Parse(name), "bench", null, CancellationToken.None);
        }
        await host.StopAsync();
        return new Result(total, seconds, names.Count - running, duplicates);
    }

    private static async Task<Result> DirectAsync(HttpClient api, IReadOnlyList<string> names, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        var ready = new double[names.Count];
        var outcomes = await Task.WhenAll(names.Select((name, i) => Task.Run(async () =>
        {
            (await api.PostAsync(new Uri($"users/{name}", UriKind.Relative), null)).Dispose();
            var delay = TimeSpan.FromMilliseconds(500);
            while (clock.Elapsed < limit)
            {
                HttpResponseMessage response;
                try
                {
                    response = await api.PostAsync(new Uri($"users/{name}/server", UriKind.Relative), null);
                }
                catch (TaskCanceledException)
                {
                    // A hub busy spawning may answer the start after the client's timeout; it has the request, so
                    // follow the server's status as after a 202.
                    break;
                }
                using var answered = response;
                if (response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    break;
                }
                // The same courtesy the portal's backend shows a throttled hub: Retry-After, else doubling.
                await Task.Delay(response.Headers.RetryAfter?.Delta ?? delay);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 8000));
            }
            while (clock.Elapsed < limit)
            {
                JsonElement? server;
                try
                {
                    server = await ServerAsync(api, name);
                }
                catch (TaskCanceledException)
                {
                    // A hub busy spawning may not answer a status read within the client's timeout: ask again.
                    continue;
                }
                if (server is { } s && s.TryGetProperty("ready", out var r) && r.GetBoolean())
                {
                    ready[i] = clock.Elapsed.TotalSeconds;
                    return true;
                }
                if (server is null && clock.Elapsed > TimeSpan.FromSeconds(5))
                {
                    return false;
                }
                await Task.Delay(250);
            }
            return false;
        })));
        var total = clock.Elapsed;
        Console.WriteLine($"hub:    {outcomes.Count(o => o)} running, {outcomes.Count(o => !o)} failed after {total.TotalSeconds:F1} s");
        return new Result(total, [.. ready.Where((_, i) => outcomes[i])], outcomes.Count(o => !o), 0);
    }

    private static async Task<JsonElement?> ServerAsync(HttpClient api, string name)
    {
        using var response = await api.GetAsync(new Uri($"users/{name}", UriKind.Relative));
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("servers").TryGetProperty("", out var server) ? server.Clone() : null;
    }

    private static async Task<int> ServerCountAsync(HttpClient api, string name)
    {
        using var response = await api.GetAsync(new Uri($"users/{name}", UriKind.Relative));
        if (!response.IsSuccessStatusCode)
        {
            return 0;
        }
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("servers").EnumerateObject().Count();
    }

    private static async Task CleanUpAsync(HttpClient api, IEnumerable<string> names) =>
        await Task.WhenAll(names.Select(n => Task.Run(async () =>
        {
            (await api.DeleteAsync(new Uri($"users/{n}/server", UriKind.Relative))).Dispose();
            for (var i = 0; i < 100 && await ServerAsync(api, n) is not null; i++)
            {
                await Task.Delay(200);
            }
            (await api.DeleteAsync(new Uri($"users/{n}", UriKind.Relative))).Dispose();
        })));

    /// <summary>Users an interrupted earlier run left on the hub (their names start with bp/bd and the time).</summary>
    private static async Task<List<string>> LeftoversAsync(HttpClient api)
    {
        using var json = JsonDocument.Parse(await api.GetStringAsync(new Uri("users", UriKind.Relative)));
        return [.. json.RootElement.EnumerateArray().Select(u => u.GetProperty("name").GetString()!)
            .Where(n => (n.StartsWith("bp", StringComparison.Ordinal) || n.StartsWith("bd", StringComparison.Ordinal)) && n.Contains('x', StringComparison.Ordinal))];
    }

    private static HttpClient Api(string hubUrl, string token)
    {
        var client = new HttpClient { BaseAddress = new Uri(new Uri(hubUrl), "hub/api/"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("token", token);
        return client;
    }
}
