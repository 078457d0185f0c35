using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Persistence.Migrations;

namespace Portal.Benchmarks;

/// <summary>
/// The admin console at university size (issue #6): a fresh database with N accounts and M server sessions, then
/// p50/p95/max of the users page's search (many, few and no matches, filters, deep pages) and of each usage dashboard
/// query; the same user searches against JupyterHub's GET /hub/api/users holding the same N users, in the same run
/// and interleaved request by request (ratio portal / hub), and a bare PostgreSQL ILIKE on username for reference.
/// </summary>
public static class AdminQueriesBenchmark
{
    private const int WarmUp = 3;

    /// <summary>A dashboard query stops repeating after this long (at least <see cref="MinimumDashboardRuns"/> runs).</summary>
    private static readonly TimeSpan DashboardBudget = TimeSpan.FromSeconds(3);

    private const int MinimumDashboardRuns = 5;

    public sealed record Options(int Accounts, int Sessions, int Iterations, bool Keep);

    /// <summary>One row of the user search table: the portal's search, and what the hub and bare SQL can do of it.</summary>
    private sealed record SearchRow(string Name, Func<int, UserSearchCase> Case, bool HubComparable);

    public static async Task<int> RunAsync(Options options)
    {
        if (!AdminQueryCatalog.Available)
        {
            Console.Error.WriteLine("admin-queries: this tree lacks UserAdminService and UsageQueries (Portal.Infrastructure/Admin/Users, Portal.Infrastructure/Usage); nothing measured.");
            return 2;
        }
        var server = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable("ConnectionStrings__Portal")
            ?? throw new InvalidOperationException("Run through scripts/bench (ConnectionStrings__Portal is not set)."));
        var database = $"portal_bench_{Guid.NewGuid():N}";
        var total = Stopwatch.StartNew();
        Console.WriteLine($"admin-queries: {options.Accounts:N0} accounts, {options.Sessions:N0} sessions, {options.Iterations} iterations per query");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");

        await BenchDatabase.ExecuteAsync(server.ConnectionString, $"CREATE DATABASE {database}");
        var bench = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = database };
        BenchHub? hub = null;
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(bench.ConnectionString);
            var clock = Stopwatch.StartNew();
            await new SqlMigrationRunner(dataSource, Path.Combine(AppContext.BaseDirectory, "migrations"), NullLogger<SqlMigrationRunner>.Instance)
                .ApplyAsync(CancellationToken.None);
            Console.WriteLine($"database {database}: migrated in {clock.Elapsed.TotalSeconds:F1} s (PostgreSQL {await ScalarAsync(dataSource, "SHOW server_version")})");

            clock.Restart();
            var data = AdminDataset.Generate(options.Accounts, options.Sessions, DateTimeOffset.UtcNow);
            Console.WriteLine($"generated in {clock.Elapsed.TotalSeconds:F1} s: {data.Accounts.Count:N0} accounts, {data.Servers.Count:N0} user_servers, " +
                $"{data.Sessions.Count:N0} sessions ({data.OpenSessions} open), {data.Applications.Count:N0} applications");
            var loadClock = Stopwatch.StartNew();
            foreach (var (table, rows, elapsed) in await data.LoadAsync(dataSource))
            {
                Console.WriteLine($"  load {table,-30} {rows,10:N0} rows {elapsed.TotalSeconds,7:F1} s");
            }
            Console.WriteLine($"  load total (COPY + ANALYZE){"",24}{loadClock.Elapsed.TotalSeconds,7:F1} s; database size {await ScalarAsync(dataSource, "SELECT pg_size_pretty(pg_database_size(current_database()))")}");

            hub = await BenchHub.StartAsync([.. data.Accounts.Select(a => a.Username)]);
            Console.WriteLine($"JupyterHub {hub.Version} (bench instance, {hub.BaseAddress}): {hub.Users:N0} users " +
                (hub.Reused ? "(reused from the last run)" : $"(seeded into its sqlite db in {hub.SeedTime.TotalSeconds:F1} s)") +
                $", started in {hub.StartTime.TotalSeconds:F1} s");

            using var catalog = AdminQueryCatalog.Create(bench.ConnectionString);
            var searches = await MeasureSearchesAsync(SearchRows(data), catalog, hub, dataSource, options.Iterations);
            var dashboards = await MeasureDashboardsAsync(catalog, options.Iterations);

            Console.WriteLine();
            Console.WriteLine($"users page search ({options.Accounts:N0} accounts; hub: GET /hub/api/users?name_filter=…&offset=…&limit=50 with {hub.Users:N0} users; times in ms)");
            Console.WriteLine($"{"query",-36} {"n",4} {"matches portal/hub",27} {"p50",7} {"p95",7} {"max",7} {"hub p50",8} {"hub p95",8} {"p50 ratio",9} {"SQL ILIKE",9}");
            foreach (var s in searches)
            {
                Console.WriteLine($"{s.Name,-36} {s.Portal.Count,4} {s.Matches,27} {P(s.Portal, 0.5),7:F1} {P(s.Portal, 0.95),7:F1} {s.Portal.Max(),7:F1} " +
                    (s.Hub.Count == 0 ? $"{"-",8} {"-",8} {"-",9} {"-",9}"
                        : $"{P(s.Hub, 0.5),8:F1} {P(s.Hub, 0.95),8:F1} {P(s.Portal, 0.5) / P(s.Hub, 0.5),9:F2} {P(s.Sql, 0.5),9:F1}"));
            }
            Console.WriteLine("p50 ratio: portal p50 / hub p50 (below 1: the portal answers faster). SQL ILIKE: a bare PostgreSQL " +
                "username ILIKE '%text%' page + count, the hub's query on the portal's database.");
            Console.WriteLine("The portal matches username, display name and email; the hub has only names. The hub builds a user's object the " +
                "first time a response includes that user and keeps it: rows whose texts repeat (year prefixes, page 1) meet warm users.");

            Console.WriteLine();
            Console.WriteLine($"usage dashboard ({options.Sessions:N0} sessions; times in ms)");
            Console.WriteLine($"{"query",-36} {"n",4} {"rows",6} {"p50",8} {"p95",8} {"max",8}");
            foreach (var (name, times, rows) in dashboards)
            {
                Console.WriteLine($"{name,-36} {times.Count,4} {rows,6} {P(times, 0.5),8:F1} {P(times, 0.95),8:F1} {times.Max(),8:F1}");
            }
            Console.WriteLine($"A dashboard query repeats for {DashboardBudget.TotalSeconds:F0} s (at least {MinimumDashboardRuns} runs, at most {options.Iterations}); with fewer than 20 runs p95 is the max.");
            Console.WriteLine();
            Console.WriteLine($"total {total.Elapsed.TotalSeconds:F0} s");
            return 0;
        }
        finally
        {
            if (hub is not null)
            {
                await hub.StopAsync();
                hub.Dispose();
            }
            NpgsqlConnection.ClearAllPools();
            if (options.Keep)
            {
                Console.WriteLine($"kept database {database} (drop it with DROP DATABASE {database} WITH (FORCE))");
            }
            else
            {
                await BenchDatabase.ExecuteAsync(server.ConnectionString, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            }
        }
    }

    /// <summary>The users page's searches; iteration i picks its text or filter from a pool, the same for portal and hub.</summary>
    private static List<SearchRow> SearchRows(AdminDataset data)
    {
        var random = new Random(7);
        var students = data.Accounts.Where(a => a.Role == "Student").Select(a => a.Username).ToArray();
        var sample = Enumerable.Range(0, 64).Select(_ => students.Length == 0 ? "s2400001" : students[random.Next(students.Length)]).ToArray();
        var pages = Math.Max(1, data.Accounts.Count / 50);
        var departments = AdminDataset.Departments;
        string[] years = ["s24", "s23", "s22", "s21", "s20"];
        string[] pairs = ["ya", "ka", "s2", "mo"];
        string[] kanji = ["田中", "山田", "佐藤", "鈴木"];
        string[] romaji = ["yamada", "tanaka", "johnson", "sato"];
        return
        [
            new("text: year prefix (s24…)", i => new(years[i % years.Length]), true),
            new("text: 6 chars (s24012…)", i => new(sample[i % sample.Length][..6]), true),
            new("text: one username", i => new(sample[i % sample.Length]), true),
            new("text: no match", i => new(string.Create(CultureInfo.InvariantCulture, $"qxj{i % 97:D2}")), true),
            new("text: 2 letters (ya, s2…)", i => new(pairs[i % pairs.Length]), true),
            new("text: kanji family name", i => new(kanji[i % kanji.Length]), true),
            new("text: romaji/western name", i => new(romaji[i % romaji.Length]), true),
            new("no filter, page 1", _ => new(), true),
            new("no filter, deep pages", i => new(Offset: (int)((i * 7919L) % pages) * 50), true),
            new("role = Staff", _ => new(Role: Role.Staff), false),
            new("status = Suspended", _ => new(Status: AccountStatus.Suspended), false),
            new("department", i => new(Department: departments[i % departments.Length]), false),
            new("has a running server", _ => new(HasRunningServer: true), false),
            new("text + role + department", i => new(years[i % years.Length], Role.Student, Department: departments[i % departments.Length]), false),
            new("department, deep pages", i => new(Department: departments[i % departments.Length], Offset: (int)((i * 31L) % Math.Max(1, pages / 20)) * 50), false),
        ];
    }

    private sealed record SearchResult(string Name, List<double> Portal, List<double> Hub, List<double> Sql, string Matches);

    private static async Task<List<SearchResult>> MeasureSearchesAsync(List<SearchRow> rows, AdminQueryCatalog catalog, BenchHub hub,
        NpgsqlDataSource dataSource, int iterations)
    {
        var results = new List<SearchResult>();
        foreach (var row in rows)
        {
            List<double> portal = [], hubTimes = [], sql = [];
            int portalMin = int.MaxValue, portalMax = 0, hubMin = int.MaxValue, hubMax = 0;
            for (var i = -WarmUp; i < iterations; i++)
            {
                var search = row.Case(i + WarmUp);
                var (ms, matches) = await TimeAsync(() => catalog.SearchUsersAsync(search, CancellationToken.None));
                if (i < 0)
                {
                    if (row.HubComparable)
                    {
                        await hub.SearchAsync(search.Text, search.Offset, search.Limit);
                        await IlikeAsync(dataSource, search);
                    }
                    continue;
                }
                portal.Add(ms);
                (portalMin, portalMax) = (Math.Min(portalMin, matches), Math.Max(portalMax, matches));
                if (row.HubComparable)
                {
                    // Interleaved request by request: a busy moment of the shared machine falls on both sides.
                    var (hubMs, hubMatches) = await TimeAsync(() => hub.SearchAsync(search.Text, search.Offset, search.Limit));
                    hubTimes.Add(hubMs);
                    (hubMin, hubMax) = (Math.Min(hubMin, hubMatches), Math.Max(hubMax, hubMatches));
                    sql.Add((await TimeAsync(() => IlikeAsync(dataSource, search))).Ms);
                }
            }
            var matchText = Range(portalMin, portalMax) + (row.HubComparable ? "/" + Range(hubMin, hubMax) : "");
            results.Add(new SearchResult(row.Name, portal, hubTimes, sql, matchText));
            Console.WriteLine($"  measured {row.Name} ({portal.Count} runs, p50 {P(portal, 0.5):F1} ms" + (row.HubComparable ? $", hub p50 {P(hubTimes, 0.5):F1} ms)" : ")"));
        }
        return results;
    }

    private static async Task<List<(string Name, List<double> Times, int Rows)>> MeasureDashboardsAsync(AdminQueryCatalog catalog, int iterations)
    {
        var results = new List<(string, List<double>, int)>();
        foreach (var query in catalog.DashboardQueries())
        {
            var rows = await query.RunAsync(CancellationToken.None); // warm-up
            var times = new List<double>();
            var spent = Stopwatch.StartNew();
            while (times.Count < iterations && (times.Count < MinimumDashboardRuns || spent.Elapsed < DashboardBudget))
            {
                times.Add((await TimeAsync(() => query.RunAsync(CancellationToken.None))).Ms);
            }
            results.Add((query.Name, times, rows));
            Console.WriteLine($"  measured {query.Name} ({times.Count} runs, p50 {P(times, 0.5):F1} ms)");
        }
        return results;
    }

    /// <summary>The hub's own query on the portal's database: name ILIKE '%text%', ordered, one page, and the count.</summary>
    private static async Task<int> IlikeAsync(NpgsqlDataSource dataSource, UserSearchCase search)
    {
        await using var batch = dataSource.CreateBatch();
        var pattern = "%" + (search.Text ?? "") + "%";
        var page = new NpgsqlBatchCommand("SELECT id, username, display_name, email FROM accounts WHERE username ILIKE $1 ORDER BY username OFFSET $2 LIMIT $3");
        page.Parameters.Add(new NpgsqlParameter { Value = pattern });
        page.Parameters.Add(new NpgsqlParameter { Value = search.Offset });
        page.Parameters.Add(new NpgsqlParameter { Value = search.Limit });
        var count = new NpgsqlBatchCommand("SELECT count(*)::int FROM accounts WHERE username ILIKE $1");
        count.Parameters.Add(new NpgsqlParameter { Value = pattern });
        batch.BatchCommands.Add(page);
        batch.BatchCommands.Add(count);
        await using var reader = await batch.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
        }
        await reader.NextResultAsync();
        await reader.ReadAsync();
        return reader.GetInt32(0);
    }

    private static async Task<(double Ms, int Result)> TimeAsync(Func<Task<int>> action)
    {
        var clock = Stopwatch.StartNew();
        var result = await action();
        return (clock.Elapsed.TotalMilliseconds, result);
    }

    private static string Range(int min, int max) =>
        min > max ? "-" : min == max ? min.ToString("N0", CultureInfo.InvariantCulture)
            : $"{min.ToString("N0", CultureInfo.InvariantCulture)}–{max.ToString("N0", CultureInfo.InvariantCulture)}";

    private static double P(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    private static async Task<string> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture) ?? "";
    }
}
