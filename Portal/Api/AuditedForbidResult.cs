using Portal.Auth;
using Portal.Infrastructure.Audit;

namespace Portal.Api;

/// <summary>A 403 decided by an endpoint (someone else's data), written to the audit log like a policy refusal.</summary>
public sealed class AuditedForbidResult : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        await AuthorizationAudit.RecordDeniedAsync(httpContext.RequestServices.GetRequiredService<AuditLog>(), httpContext, "not the caller's own");
        await TypedResults.Problem(title: "Forbidden", detail: "This token's owner may not act on that.", statusCode: StatusCodes.Status403Forbidden)
            .ExecuteAsync(httpContext);
    }
}
