using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Npgsql;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Persistence.Migrations;

/// <summary>One numbered file of <c>migrations/</c>: <c>0001_name.sql</c>.</summary>
public sealed record SqlMigration(int Version, string Name, string Sql, string Checksum);

/// <summary>A migration file or the recorded history is not what this build expects; nothing was applied.</summary>
public sealed class MigrationException(string message) : Exception(message);

/// <summary>
/// Applies the SQL files of <c>migrations/</c> in order, each once, each in its own transaction. A PostgreSQL
/// advisory lock serialises portal instances that start together; a checksum refuses an edited old file.
/// The portal at start and <c>Portal migrate</c> (used by the scripts) both come here; so does Hangfire's schema,
/// installed after the files under the same lock.
/// </summary>
public sealed partial class SqlMigrationRunner(NpgsqlDataSource dataSource, string directory, ILogger<SqlMigrationRunner> logger)
{
    /// <summary>Key of the session-level advisory lock; any constant shared by all portal builds.</summary>
    public const long AdvisoryLockKey = 0x706f7274616c01;

    public const string HistoryTable = "schema_migrations";

    public string Directory { get; } = directory;

    /// <summary>Reads and checks the files; does not touch the database.</summary>
    public IReadOnlyList<SqlMigration> LoadMigrations()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            throw new MigrationException($"Migrations folder '{Directory}' does not exist.");
        }
        var migrations = new List<SqlMigration>();
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "*.sql"))
        {
            var fileName = Path.GetFileName(path);
            var match = FileNamePattern().Match(fileName);
            if (!match.Success)
            {
                throw new MigrationException($"Migration file '{fileName}' is not named NNNN_lowercase_name.sql.");
            }
            // Line endings are normalised so that a checkout with CRLF does not count as an edit.
            var sql = File.ReadAllText(path, Encoding.UTF8).Replace("\r\n", "\n", StringComparison.Ordinal);
            var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
            migrations.Add(new SqlMigration(int.Parse(match.Groups["version"].Value, CultureInfo.InvariantCulture),
                match.Groups["name"].Value, sql, checksum));
        }
        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
            {
                throw new MigrationException($"Two migration files have version {migrations[i].Version:D4}.");
            }
        }
        return migrations;
    }

    /// <summary>Applies what is missing; returns the versions applied by this call (empty when up to date).</summary>
    public async Task<IReadOnlyList<int>> ApplyAsync(CancellationToken cancellationToken)
    {
        var migrations = LoadMigrations();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, null, $"SELECT pg_advisory_lock({AdvisoryLockKey})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, null, $"""
                CREATE TABLE IF NOT EXISTS {HistoryTable} (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamp with time zone NOT NULL DEFAULT now()
                )
                """, cancellationToken);
            var applied = await ReadHistoryAsync(connection, cancellationToken);
            Verify(migrations, applied);

            var done = new List<int>();
            foreach (var migration in migrations.Where(m => !applied.ContainsKey(m.Version)))
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                try
                {
                    await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
                }
                catch (PostgresException e)
                {
                    throw new MigrationException($"Migration {migration.Version:D4}_{migration.Name} failed: {e.MessageText}");
                }
                await using (var record = new NpgsqlCommand(
                    $"INSERT INTO {HistoryTable} (version, name, checksum) VALUES ($1, $2, $3)", connection, transaction))
                {
                    record.Parameters.Add(new NpgsqlParameter { Value = migration.Version });
                    record.Parameters.Add(new NpgsqlParameter { Value = migration.Name });
                    record.Parameters.Add(new NpgsqlParameter { Value = migration.Checksum });
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await transaction.CommitAsync(cancellationToken);
                done.Add(migration.Version);
                LogApplied(logger, migration.Version, migration.Name,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            if (done.Count == 0)
            {
                LogUpToDate(logger, migrations.Count);
            }
            // Hangfire's tables come from its own versioned installer, which takes no lock of its own: under ours, two
            // nodes starting together never race on them (docs/decisions/0015-jobs-on-hangfire.md).
            HangfireSchema.Install(connection);
            return done;
        }
        finally
        {
            await ExecuteAsync(connection, null, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
        }
    }

    private static void Verify(IReadOnlyList<SqlMigration> migrations, IReadOnlyDictionary<int, (string Name, string Checksum)> applied)
    {
        var known = migrations.ToDictionary(m => m.Version);
        foreach (var (version, record) in applied)
        {
            if (!known.TryGetValue(version, out var file))
            {
                throw new MigrationException(
                    $"The database has migration {version:D4}_{record.Name}, which this build does not have. Is an older portal running against a newer database?");
            }
            if (file.Checksum != record.Checksum)
            {
                throw new MigrationException(
                    $"Migration {version:D4}_{file.Name} was edited after it was applied (checksum {file.Checksum[..12]}… differs from the recorded {record.Checksum[..12]}…). Add a new migration instead of changing an applied one.");
            }
        }
    }

    private static async Task<Dictionary<int, (string Name, string Checksum)>> ReadHistoryAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var history = new Dictionary<int, (string, string)>();
        await using var command = new NpgsqlCommand($"SELECT version, name, checksum FROM {HistoryTable}", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            history[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
        }
        return history;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [GeneratedRegex(@"^(?<version>\d{4})_(?<name>[a-z0-9_]+)\.sql\z", RegexOptions.CultureInvariant)]
    private static partial Regex FileNamePattern();

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Version}_{Name} in {Milliseconds:F0} ms")]
    private static partial void LogApplied(ILogger logger, int version, string name, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Database schema is up to date ({Count} migrations)")]
    private static partial void LogUpToDate(ILogger logger, int count);
}
