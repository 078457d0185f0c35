using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Audit;

namespace Portal.Auth;

/// <summary>
/// Ends the sessions of a suspended person: the cookie of each request for a page or endpoint that needs a signed-in
/// person is checked against the account row (one indexed lookup), and a suspended account's cookie is rejected and
/// removed, so their next request is sent to sign in, where the reason is shown. Open interactive circuits end at their
/// next request (a navigation or reload).
/// </summary>
public static class SuspendedSessions
{
    /// <summary>
    /// Only requests for something that needs a signed-in person pay for the lookup: static files, the script, the
    /// culture switch and anonymous pages would cost a query each and give a suspended person nothing.
    /// </summary>
    private static bool NeedsSignedInPerson(HttpContext context) =>
        context.GetEndpoint()?.Metadata is { } metadata
        && metadata.GetMetadata<IAuthorizeData>() is not null
        && metadata.GetMetadata<IAllowAnonymous>() is null;

    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Principal?.Identity?.Name is not { } name || !Username.TryParse(name, out var username) || !NeedsSignedInPerson(context.HttpContext))
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
