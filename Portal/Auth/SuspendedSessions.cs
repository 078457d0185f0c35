using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.WebUtilities;
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
    /// <summary>The sign-in page's query parameter that asks it to say why the session ended.</summary>
    public const string NoticeParameter = "suspended";

    /// <summary>Long enough to follow the redirect and read the page, short enough that a stored link says nothing later.</summary>
    public static readonly TimeSpan NoticeLifetime = TimeSpan.FromMinutes(10);

    private const string EndedSessionItem = "portal:suspended-session-of";
    private const string NoticePurpose = "Portal.Auth.SuspendedSessions.Notice";

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
        context.HttpContext.Items[EndedSessionItem] = username.Value;
        await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        await services.GetRequiredService<AuditLog>().RecordAsync(
            new AuditActor(username.Value, context.HttpContext.SourceAddress()),
            "auth.session-ended", username.Value, new { reason = "Suspended" }, context.HttpContext.RequestAborted);
    }

    /// <summary>
    /// The sign-in address a request whose session was just ended is sent to: it carries the person's username,
    /// protected and valid for <see cref="NoticeLifetime"/>, so the page can say they are suspended and why without
    /// letting anyone ask about another person by name.
    /// </summary>
    public static string SignInRedirect(HttpContext context, string redirectUri)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items[EndedSessionItem] is string username
            ? QueryHelpers.AddQueryString(redirectUri, NoticeParameter, Protector(context.RequestServices).Protect(username, NoticeLifetime))
            : redirectUri;
    }

    /// <summary>The username a notice was issued for, or null when it is forged, altered or expired.</summary>
    public static Username? NoticeFor(IServiceProvider services, string? notice)
    {
        if (string.IsNullOrEmpty(notice))
        {
            return null;
        }
        try
        {
            return Username.TryParse(Protector(services).Unprotect(notice), out var username) ? username : null;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    private static ITimeLimitedDataProtector Protector(IServiceProvider services) =>
        services.GetRequiredService<IDataProtectionProvider>().CreateProtector(NoticePurpose).ToTimeLimitedDataProtector();
}
