using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Audit;

namespace Portal.Auth;

/// <summary>
/// Ends the sessions of a suspended person: each request's cookie is checked against the account row (one indexed
/// lookup), and a suspended account's cookie is rejected and removed, so their next request is sent to sign in, where
/// the reason is shown. Open interactive circuits end at their next request (a navigation or reload).
/// </summary>
public static class SuspendedSessions
{
    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Principal?.Identity?.Name is not { } name || !Username.TryParse(name, out var username))
        {
            return;
        }
        var services = context.HttpContext.RequestServices;
        var signIn = services.GetRequiredService<SignInService>();
        if (await signIn.SuspensionReasonAsync(username, context.HttpContext.RequestAborted) is null)
        {
            return;
        }
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        await services.GetRequiredService<AuditLog>().RecordAsync(
            new AuditActor(username.Value, context.HttpContext.SourceAddress()),
            "auth.session-ended", username.Value, new { reason = "Suspended" }, context.HttpContext.RequestAborted);
    }
}
