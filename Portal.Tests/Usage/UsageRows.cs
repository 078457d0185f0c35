using Npgsql;
using Portal.Tests.Support;

namespace Portal.Tests.Usage;

/// <summary>Rows crafted straight in SQL with known times, for the usage figures to be checked against.</summary>
public sealed class UsageRows(TestDatabase database)
{
    private readonly Dictionary<string, Guid> _servers = [];

    public static DateTimeOffset At(string utc) => DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();

    public async Task AccountAsync(string username, string? department)
    {
        await ExecuteAsync("""
            INSERT INTO accounts (id, username, display_name, role, status, must_change_password, created_at, department)
            VALUES (@id, @username, @username, 'Student', 'Active', false, now(), @department)
            """, ("id", Guid.NewGuid()), ("username", username), ("department", (object?)department ?? DBNull.Value));
    }

    /// <summary>A server row for <paramref name="username"/> (made once) in the given state.</summary>
    public async Task<Guid> ServerAsync(string username, string observed = "Stopped", string desired = "Stopped", int attempts = 0,
        string? lastError = null, string? failureReason = null)
    {
        if (_servers.TryGetValue(username, out var existing))
        {
            return existing;
        }
        var id = Guid.NewGuid();
        await ExecuteAsync("""
            INSERT INTO user_servers (id, username, backend, desired_state, observed_state, state_changed_at, attempts, last_error,
                                      failure_reason, progress_percent, version)
            VALUES (@id, @username, 'local', @desired, @observed, now(), @attempts, @error, @reason, 0, 1)
            """, ("id", id), ("username", username), ("desired", desired), ("observed", observed), ("attempts", attempts),
            ("error", (object?)lastError ?? DBNull.Value), ("reason", (object?)failureReason ?? DBNull.Value));
        _servers[username] = id;
        return id;
    }

    public async Task SessionAsync(string username, string requested, string? ready, string? ended, int gpus = 1,
        string backend = "local", string? outcome = null)
    {
        var server = await ServerAsync(username);
        outcome ??= ended is null ? "Open" : ready is null ? "Failed" : "Stopped";
        await ExecuteAsync("""
            INSERT INTO server_sessions (id, server_id, username, backend, requested_at, ready_at, ended_at, outcome, gpu_count)
            VALUES (@id, @server, @username, @backend, @requested, @ready, @ended, @outcome, @gpus)
            """, ("id", Guid.NewGuid()), ("server", server), ("username", username), ("backend", backend), ("requested", At(requested)),
            ("ready", ready is null ? DBNull.Value : At(ready)), ("ended", ended is null ? DBNull.Value : At(ended)),
            ("outcome", outcome), ("gpus", gpus));
    }

    public async Task ApplicationAsync(string username, string state, string submitted)
    {
        await ExecuteAsync("""
            INSERT INTO account_applications (id, full_name, email, affiliation_id, department, desired_username, purpose,
                accepted_terms_version, state, submitted_at, status_token_hash, provisioning_attempts, version)
            VALUES (@id, 'Test Person', @email, '12345678', 'Science', @username, 'Study', 1, @state, @submitted, @hash, 0, 1)
            """, ("id", Guid.NewGuid()), ("email", $"{username}@keio.jp"), ("username", username), ("state", state),
            ("submitted", At(submitted)), ("hash", Guid.NewGuid().ToString("N")));
    }

    public async Task AuditAsync(string action, string at)
    {
        await ExecuteAsync("INSERT INTO audit_events (occurred_at, actor, action, data) VALUES (@at, '(system)', @action, '{}')",
            ("at", At(at)), ("action", action));
    }

    public async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter(name, value));
        }
        await command.ExecuteNonQueryAsync();
    }
}
