using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Portal.Infrastructure.Audit;

namespace Portal.Auth;

/// <summary>
/// Writes <c>auth.denied</c> to the audit log whenever a signed-in person is refused (forbidden) by an authorization
/// policy, then lets the default handler answer as usual. Interactive pages are first requested over HTTP, so a
/// student opening an admin page is recorded here too. Anonymous requests sent to sign in are not recorded.
/// </summary>
public sealed partial class AuthorizationAudit(AuditLog audit, ILogger<AuthorizationAudit> logger) : IAuthorizationMiddlewareResultHandler
{
    public const string DeniedAction = "auth.denied";

    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(authorizeResult);
        if (authorizeResult.Forbidden && context.User.Identity is { IsAuthenticated: true, Name: { } actor })
        {
            try
            {
                await RecordDeniedAsync(audit, context, reason: null);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The refusal stands whether or not it could be written down.
                LogAuditFailed(logger, e, actor, context.Request.Path.Value);
            }
        }
        await _default.HandleAsync(next, context, policy, authorizeResult);
    }

    /// <summary>
    /// Writes one refusal of the signed-in person's request; endpoints that refuse on their own (someone else's data)
    /// call this too, so every refusal reads the same in the log.
    /// </summary>
    public static Task RecordDeniedAsync(AuditLog audit, HttpContext context, string? reason) =>
        audit.RecordAsync(context.AuditActor(), DeniedAction, context.Request.Path.Value,
            new { path = context.Request.Path.Value, method = context.Request.Method, reason }, context.RequestAborted);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not audit the refused request of {Actor} to {Path}")]
    private static partial void LogAuditFailed(ILogger logger, Exception error, string actor, string? path);
}
