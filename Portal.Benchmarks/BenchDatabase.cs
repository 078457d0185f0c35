using Npgsql;

namespace Portal.Benchmarks;

/// <summary>A fresh database on the test PostgreSQL for one benchmark run, dropped again when disposed.</summary>
internal sealed class BenchDatabase : IAsyncDisposable
{
    private readonly string _name;

    private BenchDatabase(string name, string connectionString)
    {
        _name = name;
        ConnectionString = connectionString;
    }

    public string ConnectionString { get; }

    /// <summary>The test server as <c>scripts/services env test</c> describes it (<c>ConnectionStrings__Portal</c>).</summary>
    public static string ServerConnectionString => Environment.GetEnvironmentVariable("ConnectionStrings__Portal")
        ?? throw new InvalidOperationException("Run through scripts/bench (ConnectionStrings__Portal is not set).");

    public static async Task<BenchDatabase> CreateAsync()
    {
        var name = $"portal_bench_{Guid.NewGuid():N}";
        await ExecuteAsync(ServerConnectionString, $"CREATE DATABASE {name}");
        return new BenchDatabase(name, new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = name }.ConnectionString);
    }

    public Task ExecuteAsync(string sql) => ExecuteAsync(ConnectionString, sql);

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync(new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = "postgres" }.ConnectionString,
            $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)");
    }
}

/// <summary>How the benchmarks read a list of timings.</summary>
internal static class Figures
{
    /// <summary>The value at or below which a share <paramref name="p"/> of <paramref name="values"/> lie (NaN when none).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }
}
