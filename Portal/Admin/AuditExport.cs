using System.Globalization;
using System.Text;
using Portal.Auth;
using Portal.Infrastructure.Audit;

namespace Portal.Admin;

/// <summary><c>GET /admin/audit/export.csv</c>: the audit log with the page's filters, as CSV, for admins only.</summary>
public static class AuditExport
{
    public const string Path = "/admin/audit/export.csv";

    public static IEndpointRouteBuilder MapAuditExport(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(Path, async (HttpContext context, AuditLog audit, string? actor, string? action, string? target,
            DateTimeOffset? from, DateTimeOffset? to, string? q) =>
        {
            var filter = new AuditQuery(actor, action, target, from, to, q);
            // The export is itself an admin action worth a record.
            await audit.RecordAsync(context.AuditActor(),
                "audit.exported", null, filter, context.RequestAborted);
            context.Response.ContentType = "text/csv; charset=utf-8";
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"audit-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv\"";
            await using var writer = new StreamWriter(context.Response.Body, new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
            await writer.WriteAsync(Csv.Line("time_utc", "actor", "action", "target", "source_address", "data"));
            await foreach (var e in audit.ExportAsync(filter, context.RequestAborted))
            {
                await writer.WriteAsync(Csv.Line(e.OccurredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                    e.Actor, e.Action, e.Target, e.SourceAddress, e.Data));
            }
        }).RequireAuthorization(AuthenticationSetup.AdminPolicy);
        return endpoints;
    }
}
