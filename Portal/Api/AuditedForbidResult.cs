using Portal.Infrastructure.Audit;

namespace Portal.Api;

/// <summary>A 403 decided by an endpoint (someone else's data), written to the audit log like a policy refusal.</summary>
public sealed class AuditedForbidResult : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var audit = httpContext.RequestServices.GetRequiredService<AuditLog>();
        await audit.RecordAsync(new AuditActor(httpContext.User.Identity?.Name ?? "(anonymous)", httpContext.Connection.RemoteIpAddress?.ToString()),
            Auth.AuthorizationAudit.DeniedAction, httpContext.Request.Path.Value, new { method = httpContext.Request.Method, reason = "not the caller's own" },
            httpContext.RequestAborted);
        await TypedResults.Problem(title: "Forbidden", detail: "This token's owner may not act on that.", statusCode: StatusCodes.Status403Forbidden)
            .ExecuteAsync(httpContext);
    }
}
