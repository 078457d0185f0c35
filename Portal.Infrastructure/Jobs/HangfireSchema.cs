using Hangfire.PostgreSql;
using Npgsql;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// Hangfire's tables, in a schema of their own. Installed by the migration runner after the numbered SQL files and
/// under the same advisory lock, so two nodes starting together never race on it (Hangfire's own installer takes no
/// lock: docs/decisions/0015-jobs-on-hangfire.md). The installer is versioned itself and skips what is there.
/// </summary>
public static class HangfireSchema
{
    public const string Name = "hangfire";

    /// <summary>Needs an open connection with no transaction: each of Hangfire's scripts runs in a transaction of its own.</summary>
    public static void Install(NpgsqlConnection connection) => PostgreSqlObjectsInstaller.Install(connection, Name);
}
