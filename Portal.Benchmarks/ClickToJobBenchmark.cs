using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure;
using Portal.Infrastructure.Persistence.Migrations;
using Portal.Infrastructure.Servers;

namespace Portal.Benchmarks;

/// <summary>
/// How long a click on Start waits for its job on an idle portal: from the start request (ServerService.StartAsync,
/// what the page's button calls) to the moment the server's job first asks the backend to start it, one user after
/// another. The backend is a stand-in that only notes that moment and answers "ready": the figure is the job
/// engine's and the portal's, not a spawner's.
/// </summary>
public static class ClickToJobBenchmark
{
    public static async Task<int> RunAsync(int clicks)
    {
        var database = await BenchDatabase.CreateAsync();
        try
        {
            var backend = new NotingBackend();
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration["ConnectionStrings:Portal"] = database.ConnectionString;
            builder.Configuration["Servers:Backend"] = NotingBackend.BackendName;
            builder.Configuration["Servers:DiscoverGpus"] = "false";
            builder.Configuration["Logging:LogLevel:Default"] = "Warning";
            builder.Services.AddPortalInfrastructure(builder.Configuration);
            builder.Services.AddSingleton<ISpawnerBackend>(backend);
            using var host = builder.Build();
            await host.Services.GetRequiredService<SqlMigrationRunner>().ApplyAsync(CancellationToken.None);
            await database.ExecuteAsync("UPDATE resource_plans SET gpu_count = 0");
            await host.StartAsync();
            var servers = host.Services.GetRequiredService<ServerService>();

            // A few clicks first, so that what is measured is an idle portal, not its first start.
            var latencies = new List<double>(clicks);
            var run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
            for (var i = -3; i < clicks; i++)
            {
                var user = Username.Parse($"ck{run}x{i + 3}");
                var clock = Stopwatch.StartNew();
                var picked = backend.Expect(user);
                await servers.StartAsync(user, null, null, CancellationToken.None);
                var requested = clock.Elapsed;
                var at = await picked.WaitAsync(TimeSpan.FromMinutes(2));
                if (i >= 0)
                {
                    latencies.Add(at.TotalMilliseconds);
                }
                if (i == 0)
                {
                    Console.WriteLine($"first measured click: request returned after {requested.TotalMilliseconds:F0} ms, job after {at.TotalMilliseconds:F0} ms");
                }
            }
            await host.StopAsync();

            Console.WriteLine();
            Console.WriteLine($"clicks: {clicks} (one at a time, idle portal)   cores: {Environment.ProcessorCount}");
            Console.WriteLine($"{"start request → job asks the backend",-40} p50 {Figures.Percentile(latencies, 0.5),7:F0} ms   p95 {Figures.Percentile(latencies, 0.95),7:F0} ms   max {latencies.Max(),7:F0} ms");
            return 0;
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    /// <summary>A stand-in backend for this benchmark only: it notes when a job first asks it to start a user's server.</summary>
    private sealed class NotingBackend : ISpawnerBackend
    {
        public const string BackendName = "bench-noting";

        private readonly ConcurrentDictionary<string, (Stopwatch Clock, TaskCompletionSource<TimeSpan> Picked)> _expected = new();

        public string Name => BackendName;

        public TimeSpan StartTimeout => TimeSpan.FromMinutes(1);

        /// <summary>Starts the clock of a click on <paramref name="user"/>'s Start; the task ends when the job asks.</summary>
        public Task<TimeSpan> Expect(Username user)
        {
            var entry = (Stopwatch.StartNew(), new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously));
            _expected[user.Value] = entry;
            return entry.Item2.Task;
        }

        public Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(spec);
            if (_expected.TryGetValue(spec.Username.Value, out var entry))
            {
                entry.Picked.TrySetResult(entry.Clock.Elapsed);
            }
            return Task.FromResult<StartResult>(new StartResult.Ready(Ref(spec.Username), new Uri($"http://127.0.0.1:9/{spec.Username}/")));
        }

        public Task StopAsync(ServerRef server, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken) =>
            Task.FromResult<ServerStatus>(new ServerStatus.Running(new Uri($"http://127.0.0.1:9/{server.Username}/"), null));

        public async IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield return new ProgressEvent(100, "ready", Ready: true);
        }

        private static ServerRef Ref(Username user) => new(BackendName, user, user.Value);
    }
}
