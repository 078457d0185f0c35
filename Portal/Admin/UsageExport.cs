using System.Globalization;
using System.Text;
using Portal.Auth;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Usage;

namespace Portal.Admin;

/// <summary>
/// <c>GET /admin/usage/export/{table}.csv?from=&amp;to=</c>: the table under each chart of <c>/admin/usage</c>, as CSV,
/// for admins only; every export is audited (<c>usage.exported</c>). Without from/to: the last 7 days.
/// </summary>
public static class UsageExport
{
    public const string PathPrefix = "/admin/usage/export/";

    /// <summary>The tables that can be exported, as they appear in the path.</summary>
    public static IReadOnlyList<string> Tables { get; } =
        ["applications-by-state", "applications-by-age", "concurrency", "top-users", "departments", "days", "spawn", "failures"];

    public static string PathFor(string table, UsagePeriod period) =>
        $"{PathPrefix}{table}.csv?from={Uri.EscapeDataString(period.From.ToString("o", CultureInfo.InvariantCulture))}"
        + $"&to={Uri.EscapeDataString(period.To.ToString("o", CultureInfo.InvariantCulture))}";

    public static IEndpointRouteBuilder MapUsageExport(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(PathPrefix + "{table}.csv", async (HttpContext context, string table, DateTimeOffset? from, DateTimeOffset? to,
            UsageQueries usage, AuditLog audit, TimeProvider clock) =>
        {
            if (!Tables.Contains(table))
            {
                return Results.NotFound();
            }
            var end = to ?? clock.GetUtcNow();
            var period = new UsagePeriod(from ?? end.AddDays(-7), end);
            if (period.To <= period.From || period.Length > TimeSpan.FromDays(366))
            {
                return Results.BadRequest("The period must end after it starts, and span at most a year.");
            }
            var lines = await LinesAsync(table, period, usage, context.RequestAborted);
            await audit.RecordAsync(context.AuditActor(),
                "usage.exported", null, new { table, from = period.From, to = period.To }, context.RequestAborted);
            var csv = new StringBuilder();
            foreach (var line in lines)
            {
                csv.Append(Csv.Line(line));
            }
            var name = $"usage-{table}-{period.From.UtcDateTime:yyyyMMdd}-{period.To.UtcDateTime:yyyyMMdd}.csv";
            return Results.File(new UTF8Encoding(encoderShouldEmitUTF8Identifier: true).GetPreamble().Concat(Encoding.UTF8.GetBytes(csv.ToString())).ToArray(),
                "text/csv; charset=utf-8", name);
        }).RequireAuthorization(AuthenticationSetup.AdminPolicy);
        return endpoints;
    }

    private static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    private static string Number(double? value) => value is { } v ? Number(v) : "";

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The header line, then one line per row.</summary>
    public static async Task<IReadOnlyList<string?[]>> LinesAsync(string table, UsagePeriod period, UsageQueries usage, CancellationToken cancellationToken)
    {
        List<string?[]> lines = [];
        switch (table)
        {
            case "applications-by-state":
                lines.Add(["state", "applications"]);
                lines.AddRange((await usage.ApplicationsByStateAsync(period, cancellationToken)).Select(r => new[] { r.State, Int(r.Count) }));
                break;
            case "applications-by-age":
                lines.Add(["age", "open_applications"]);
                lines.AddRange((await usage.OpenApplicationsByAgeAsync(period, cancellationToken)).Select(r => new[] { r.Bucket, Int(r.Count) }));
                break;
            case "concurrency":
                lines.Add(["bucket_start_utc", "servers_running", "gpus_in_use", "average_servers", "average_gpus"]);
                lines.AddRange((await usage.ConcurrencyAsync(period, period.NaturalBucket, cancellationToken)).Select(r => new[]
                {
                    Time(r.Start), Int(r.Servers), Int(r.Gpus), Number(r.AverageServers), Number(r.AverageGpus),
                }));
                break;
            case "top-users":
                lines.Add(["username", "hours", "gpu_hours", "sessions"]);
                lines.AddRange((await usage.ByUserAsync(period, 100, cancellationToken)).Select(Usage));
                break;
            case "departments":
                lines.Add(["department", "hours", "gpu_hours", "sessions"]);
                lines.AddRange((await usage.ByDepartmentAsync(period, cancellationToken)).Select(Usage));
                break;
            case "days":
                lines.Add(["day_utc", "hours", "gpu_hours", "sessions"]);
                lines.AddRange((await usage.ByDayAsync(period, cancellationToken)).Select(Usage));
                break;
            case "spawn":
                lines.Add(["backend", "ready", "spawn_p50_seconds", "spawn_p95_seconds", "ended", "failed", "failure_rate"]);
                lines.AddRange((await usage.SpawnStatsAsync(period, cancellationToken)).Select(r => new[]
                {
                    r.Backend, Int(r.Ready), Number(r.P50Seconds), Number(r.P95Seconds), Int(r.Ended), Int(r.Failed), Number(r.FailureRate),
                }));
                break;
            case "failures":
                lines.Add(["day_utc", "failed_sessions", "provisioning_failures"]);
                lines.AddRange((await usage.FailuresByDayAsync(period, cancellationToken)).Select(r => new[]
                {
                    r.Day.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), Int(r.FailedSessions), Int(r.ProvisioningFailures),
                }));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(table), table, "No such usage table.");
        }
        return lines;

        static string?[] Usage(UsageRow r) => [r.Key, Number(r.Hours), Number(r.GpuHours), Int(r.Sessions)];
    }
}
