using Npgsql;
using NpgsqlTypes;

namespace Portal.Infrastructure.Usage;

/// <summary>A half-open period [<see cref="From"/>, <see cref="To"/>).</summary>
public sealed record UsagePeriod(DateTimeOffset From, DateTimeOffset To)
{
    public TimeSpan Length => To - From;

    /// <summary>The last <paramref name="length"/> up to <paramref name="now"/>.</summary>
    public static UsagePeriod Last(TimeSpan length, DateTimeOffset now) => new(now - length, now);

    /// <summary>Hourly buckets for periods up to three days, daily ones beyond.</summary>
    public UsageBucket NaturalBucket => Length <= TimeSpan.FromDays(3) ? UsageBucket.Hour : UsageBucket.Day;
}

public enum UsageBucket
{
    Hour,
    Day,
}

/// <summary>Hours a server was running and GPU-hours (hours × GPUs) of one user, department or day.</summary>
public sealed record UsageRow(string Key, double Hours, double GpuHours, int Sessions);

/// <summary>
/// Spawn times (click to ready) of the sessions that became ready in the period, and how many sessions ended in it,
/// failed or not, per backend.
/// </summary>
public sealed record SpawnStats(string Backend, int Ready, double? P50Seconds, double? P95Seconds, int Ended, int Failed)
{
    /// <summary>Failed / all ended; null when none ended.</summary>
    public double? FailureRate => Ended == 0 ? null : (double)Failed / Ended;
}

public sealed record StateCount(string State, int Count);

/// <summary>Open applications (submitted, approved, provisioning failed) by how long ago they were submitted.</summary>
public sealed record AgeBucketCount(string Bucket, int Count);

/// <summary>
/// One bucket (hour or day): how many servers ran at some time in it and their GPUs, and the average number running
/// (and GPUs in use) over the bucket.
/// </summary>
public sealed record ConcurrencyPoint(DateTimeOffset Start, int Servers, int Gpus, double AverageServers, double AverageGpus);

/// <summary>Failed server sessions (ended failed) and failed provisioning attempts on one UTC day.</summary>
public sealed record FailurePoint(DateTimeOffset Day, int FailedSessions, int ProvisioningFailures);

/// <summary>
/// Usage figures for the dashboards, each one SQL statement over <c>server_sessions</c> and friends.
/// <para>
/// Accounting rule: a session counts from <c>ready_at</c> (the server answered) to <c>ended_at</c>, or to now while
/// it is open, clipped to the period. Time spent starting is not usage (spawn times are reported apart), so a session
/// that never became ready (a failed start, or one still starting) counts zero. GPU-hours = hours × <c>gpu_count</c>.
/// Days are UTC days.
/// </para>
/// </summary>
public sealed class UsageQueries(NpgsqlDataSource dataSource, TimeProvider clock)
{
    public const string AgeUnderOneDay = "<1d";
    public const string AgeOneToThreeDays = "1-3d";
    public const string AgeThreeToSevenDays = "3-7d";
    public const string AgeOverSevenDays = ">7d";

    public static IReadOnlyList<string> AgeBuckets { get; } = [AgeUnderOneDay, AgeOneToThreeDays, AgeThreeToSevenDays, AgeOverSevenDays];

    // The sessions overlapping [@from, @to), each clipped to it: s_from/s_to are the counted interval.
    // ended_at > @from OR ended_at IS NULL uses ix_server_sessions_ended_at; ready_at < @to filters the rest.
    private const string Clipped = """
        clipped AS (
            SELECT s.username, s.gpu_count,
                   greatest(s.ready_at, @from) AS s_from,
                   least(coalesce(s.ended_at, @now), @to) AS s_to
            FROM server_sessions s
            WHERE s.ready_at IS NOT NULL AND s.ready_at < @to AND (s.ended_at > @from OR s.ended_at IS NULL)
        ),
        counted AS (
            SELECT username, gpu_count, s_from, s_to, extract(epoch FROM s_to - s_from) / 3600.0 AS hours
            FROM clipped WHERE s_to > s_from
        )
        """;

    /// <summary>Hours and GPU-hours per user, most GPU-hours first; <paramref name="top"/> limits the rows.</summary>
    public Task<IReadOnlyList<UsageRow>> ByUserAsync(UsagePeriod period, int? top, CancellationToken cancellationToken) =>
        UsageAsync(period, $"""
            WITH {Clipped}
            SELECT username, sum(hours), sum(hours * gpu_count), count(*)::int
            FROM counted GROUP BY username
            ORDER BY 3 DESC, 2 DESC, 1
            LIMIT @top
            """, top, cancellationToken);

    /// <summary>Hours and GPU-hours per department (the account's; "" when the account has none or is unknown).</summary>
    public Task<IReadOnlyList<UsageRow>> ByDepartmentAsync(UsagePeriod period, CancellationToken cancellationToken) =>
        UsageAsync(period, $"""
            WITH {Clipped}
            SELECT coalesce(a.department, ''), sum(c.hours), sum(c.hours * c.gpu_count), count(*)::int
            FROM counted c LEFT JOIN accounts a ON a.username = c.username
            GROUP BY 1
            ORDER BY 3 DESC, 2 DESC, 1
            LIMIT @top
            """, null, cancellationToken);

    /// <summary>Hours and GPU-hours per UTC day (key <c>yyyy-MM-dd</c>), every day of the period, zero included.</summary>
    public Task<IReadOnlyList<UsageRow>> ByDayAsync(UsagePeriod period, CancellationToken cancellationToken) =>
        UsageAsync(period, $"""
            WITH {Clipped},
            days AS (
                SELECT d AS day_from
                FROM generate_series(date_trunc('day', @from, 'UTC'), @to - interval '1 microsecond', interval '1 day') d
            ),
            -- Each session cut into the days it spans (usually one or two): work grows with sessions, not sessions × days.
            pieces AS (
                SELECT p.day_from, c.gpu_count,
                       extract(epoch FROM least(c.s_to, p.day_from + interval '1 day') - greatest(c.s_from, p.day_from)) / 3600.0 AS hours
                FROM counted c
                CROSS JOIN LATERAL generate_series(date_trunc('day', c.s_from, 'UTC'), c.s_to - interval '1 microsecond', interval '1 day') AS p(day_from)
            ),
            per_day AS (
                SELECT day_from, sum(hours) AS hours, sum(hours * gpu_count) AS gpu_hours, count(*) AS sessions
                FROM pieces GROUP BY day_from
            )
            SELECT to_char(d.day_from AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(p.hours, 0), coalesce(p.gpu_hours, 0),
                   coalesce(p.sessions, 0)::int
            FROM days d LEFT JOIN per_day p ON p.day_from = d.day_from
            ORDER BY d.day_from
            LIMIT @top
            """, null, cancellationToken);

    /// <summary>Spawn time p50/p95 (sessions ready in the period) and failures (sessions ended in it) per backend.</summary>
    public async Task<IReadOnlyList<SpawnStats>> SpawnStatsAsync(UsagePeriod period, CancellationToken cancellationToken)
    {
        await using var command = Command("""
            SELECT backend,
                   count(*) FILTER (WHERE ready_at >= @from AND ready_at < @to)::int,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ready_at - requested_at))
                       FILTER (WHERE ready_at >= @from AND ready_at < @to),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM ready_at - requested_at))
                       FILTER (WHERE ready_at >= @from AND ready_at < @to),
                   count(*) FILTER (WHERE ended_at >= @from AND ended_at < @to)::int,
                   count(*) FILTER (WHERE ended_at >= @from AND ended_at < @to AND outcome = 'Failed')::int
            FROM server_sessions
            WHERE (ready_at >= @from AND ready_at < @to) OR (ended_at >= @from AND ended_at < @to)
            GROUP BY backend
            ORDER BY backend
            """, period);
        var rows = new List<SpawnStats>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new SpawnStats(reader.GetString(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetDouble(2),
                reader.IsDBNull(3) ? null : reader.GetDouble(3), reader.GetInt32(4), reader.GetInt32(5)));
        }
        return rows;
    }

    /// <summary>Applications submitted in the period, by their state now.</summary>
    public async Task<IReadOnlyList<StateCount>> ApplicationsByStateAsync(UsagePeriod period, CancellationToken cancellationToken)
    {
        await using var command = Command("""
            SELECT state, count(*)::int FROM account_applications
            WHERE submitted_at >= @from AND submitted_at < @to
            GROUP BY state ORDER BY state
            """, period);
        var rows = new List<StateCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new StateCount(reader.GetString(0), reader.GetInt32(1)));
        }
        return rows;
    }

    /// <summary>
    /// Applications still open now (submitted, approved, or provisioning failed) and submitted before the period's
    /// end, by their age now: under 1 day, 1–3 days, 3–7 days, over 7 days. Every bucket is returned, zero included.
    /// </summary>
    public async Task<IReadOnlyList<AgeBucketCount>> OpenApplicationsByAgeAsync(UsagePeriod period, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            WITH open_ AS (
                SELECT @now - submitted_at AS age FROM account_applications
                WHERE state IN ('Submitted', 'Approved', 'ProvisioningFailed') AND submitted_at < @to
            )
            SELECT b.bucket, count(o.age)::int
            FROM (VALUES (1, '{AgeUnderOneDay}', interval '0', interval '1 day'),
                         (2, '{AgeOneToThreeDays}', interval '1 day', interval '3 days'),
                         (3, '{AgeThreeToSevenDays}', interval '3 days', interval '7 days'),
                         (4, '{AgeOverSevenDays}', interval '7 days', NULL)) AS b(ord, bucket, low, high)
            LEFT JOIN open_ o ON o.age >= b.low AND (b.high IS NULL OR o.age < b.high)
                OR (b.ord = 1 AND o.age < interval '0')
            GROUP BY b.ord, b.bucket ORDER BY b.ord
            """, period);
        var rows = new List<AgeBucketCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new AgeBucketCount(reader.GetString(0), reader.GetInt32(1)));
        }
        return rows;
    }

    /// <summary>
    /// Servers running and GPUs in use per bucket (hour or UTC day, see <see cref="UsagePeriod.NaturalBucket"/>), every
    /// bucket of the period from generate_series, by the accounting rule above.
    /// </summary>
    public async Task<IReadOnlyList<ConcurrencyPoint>> ConcurrencyAsync(UsagePeriod period, UsageBucket bucket, CancellationToken cancellationToken)
    {
        var unit = bucket switch
        {
            UsageBucket.Hour => "hour",
            UsageBucket.Day => "day",
            _ => throw new ArgumentOutOfRangeException(nameof(bucket)),
        };
        await using var command = Command($"""
            WITH {Clipped},
            buckets AS (
                SELECT b AS b_from
                FROM generate_series(date_trunc('{unit}', @from, 'UTC'), @to - interval '1 microsecond', interval '1 {unit}') b
            ),
            -- Each session cut into the buckets it spans, as in ByDayAsync.
            pieces AS (
                SELECT p.b_from, c.gpu_count,
                       extract(epoch FROM least(c.s_to, p.b_from + interval '1 {unit}') - greatest(c.s_from, p.b_from)) AS seconds
                FROM counted c
                CROSS JOIN LATERAL generate_series(date_trunc('{unit}', c.s_from, 'UTC'), c.s_to - interval '1 microsecond', interval '1 {unit}') AS p(b_from)
            ),
            per_bucket AS (
                SELECT b_from, count(*) AS servers, sum(gpu_count) AS gpus, sum(seconds) AS seconds, sum(seconds * gpu_count) AS gpu_seconds
                FROM pieces GROUP BY b_from
            )
            SELECT b.b_from,
                   coalesce(p.servers, 0)::int,
                   coalesce(p.gpus, 0)::int,
                   coalesce(p.seconds, 0) / extract(epoch FROM interval '1 {unit}'),
                   coalesce(p.gpu_seconds, 0) / extract(epoch FROM interval '1 {unit}')
            FROM buckets b LEFT JOIN per_bucket p ON p.b_from = b.b_from
            ORDER BY b.b_from
            """, period);
        var rows = new List<ConcurrencyPoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ConcurrencyPoint(reader.GetFieldValue<DateTimeOffset>(0), reader.GetInt32(1), reader.GetInt32(2),
                Convert.ToDouble(reader.GetValue(3), System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToDouble(reader.GetValue(4), System.Globalization.CultureInfo.InvariantCulture)));
        }
        return rows;
    }

    /// <summary>
    /// Per UTC day of the period: server sessions that ended failed, and failed provisioning attempts (each
    /// <c>application.provisioning-failed</c> audit event).
    /// </summary>
    public async Task<IReadOnlyList<FailurePoint>> FailuresByDayAsync(UsagePeriod period, CancellationToken cancellationToken)
    {
        await using var command = Command("""
            WITH days AS (
                SELECT d AS day_from, d + interval '1 day' AS day_to
                FROM generate_series(date_trunc('day', @from, 'UTC'), @to - interval '1 microsecond', interval '1 day') d
            ),
            sessions AS (
                SELECT date_trunc('day', ended_at, 'UTC') AS day, count(*)::int AS n FROM server_sessions
                WHERE outcome = 'Failed' AND ended_at >= @from AND ended_at < @to GROUP BY 1
            ),
            provisioning AS (
                SELECT date_trunc('day', occurred_at, 'UTC') AS day, count(*)::int AS n FROM audit_events
                WHERE action = 'application.provisioning-failed' AND occurred_at >= @from AND occurred_at < @to GROUP BY 1
            )
            SELECT d.day_from, coalesce(s.n, 0), coalesce(p.n, 0)
            FROM days d LEFT JOIN sessions s ON s.day = d.day_from LEFT JOIN provisioning p ON p.day = d.day_from
            ORDER BY d.day_from
            """, period);
        var rows = new List<FailurePoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new FailurePoint(reader.GetFieldValue<DateTimeOffset>(0), reader.GetInt32(1), reader.GetInt32(2)));
        }
        return rows;
    }

    private async Task<IReadOnlyList<UsageRow>> UsageAsync(UsagePeriod period, string sql, int? top, CancellationToken cancellationToken)
    {
        await using var command = Command(sql, period);
        command.Parameters.Add(new NpgsqlParameter("top", NpgsqlDbType.Integer) { Value = top is { } n ? Math.Max(0, n) : DBNull.Value });
        var rows = new List<UsageRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new UsageRow(reader.GetString(0), ToDouble(reader.GetValue(1)), ToDouble(reader.GetValue(2)), reader.GetInt32(3)));
        }
        return rows;
    }

    private static double ToDouble(object value) => Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture);

    private NpgsqlCommand Command(string sql, UsagePeriod period)
    {
        if (period.To <= period.From)
        {
            throw new ArgumentException("The period must end after it starts.", nameof(period));
        }
        var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter("from", NpgsqlDbType.TimestampTz) { Value = period.From.ToUniversalTime() });
        command.Parameters.Add(new NpgsqlParameter("to", NpgsqlDbType.TimestampTz) { Value = period.To.ToUniversalTime() });
        command.Parameters.Add(new NpgsqlParameter("now", NpgsqlDbType.TimestampTz) { Value = clock.GetUtcNow().ToUniversalTime() });
        return command;
    }
}
