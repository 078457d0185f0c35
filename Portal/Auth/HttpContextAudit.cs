using Portal.Infrastructure.Audit;

namespace Portal.Auth;

/// <summary>Who and where a request comes from, as the audit log records it.</summary>
public static class HttpContextAudit
{
    /// <summary>The client's address (the forwarded one behind a trusted proxy), or null.</summary>
    public static string? SourceAddress(this HttpContext context) => context.Connection.RemoteIpAddress?.ToString();

    /// <summary>The signed-in person (or token owner) making the request.</summary>
    public static AuditActor AuditActor(this HttpContext context) =>
        new(context.User.Identity?.Name ?? Domain.Audit.AuditEvent.Anonymous, context.SourceAddress());
}
