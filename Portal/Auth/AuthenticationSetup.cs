using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Portal.Domain.Accounts;
using Portal.Hosting;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Terms;

namespace Portal.Auth;

public static class AuthenticationSetup
{
    public const string CookieName = "portal.auth";
    public const string SignInPath = "/account/sign-in";
    public const string SignOutPath = "/account/sign-out";
    public const string AccessDeniedPath = "/account/access-denied";
    public const string ChangePasswordPath = "/account/change-password";
    public const string TermsPath = "/account/terms";

    public const string StaffPolicy = "Staff";
    public const string AdminPolicy = "Admin";

    public static IServiceCollection AddPortalAuthentication(this IServiceCollection services, IHostEnvironment environment)
    {
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.Cookie.Name = CookieName;
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Lax;
                // Plain http is only for a developer's loopback; anywhere else the cookie travels over TLS only.
                options.Cookie.SecurePolicy = environment.IsDevelopment() ? CookieSecurePolicy.SameAsRequest : CookieSecurePolicy.Always;
                options.LoginPath = SignInPath;
                options.LogoutPath = SignOutPath;
                options.AccessDeniedPath = AccessDeniedPath;
                options.ExpireTimeSpan = TimeSpan.FromHours(8);
                options.SlidingExpiration = true;
                // A suspended person's session ends at their next request, which is sent to sign in with the reason.
                options.Events.OnValidatePrincipal = SuspendedSessions.ValidateAsync;
                var redirectToSignIn = options.Events.OnRedirectToLogin;
                options.Events.OnRedirectToLogin = context =>
                {
                    context.RedirectUri = SuspendedSessions.SignInRedirect(context.HttpContext, context.RedirectUri);
                    return redirectToSignIn(context);
                };
            });
        // Every refused request of a signed-in person is audited (auth.denied).
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, AuthorizationAudit>();
        services.AddAuthorizationBuilder()
            .AddPolicy(StaffPolicy, p => p.RequireRole(Roles.Staff, Roles.Admin))
            .AddPolicy(AdminPolicy, p => p.RequireRole(Roles.Admin));
        services.AddCascadingAuthenticationState();
        return services;
    }

    /// <summary>
    /// A person whose password was reset by an administrator may do nothing but change it: every page request
    /// is sent to the change-password page (LDAP would refuse them everything else anyway).
    /// </summary>
    public static IApplicationBuilder UsePasswordChangeGate(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            if (context.User.Identity?.IsAuthenticated == true && context.User.MustChangePasswordNow() && !IsAllowedWhilePasswordMustChange(context.Request.Path))
            {
                context.Response.Redirect(ChangePasswordPath);
                return;
            }
            await next(context);
        });

    /// <summary>
    /// A person who has not accepted the terms in force sees only the terms until they accept (after any forced
    /// password change). A new version therefore asks everyone again, before anything else.
    /// </summary>
    public static IApplicationBuilder UseTermsGate(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            if (context.User.Identity?.IsAuthenticated == true && !context.User.MustChangePasswordNow()
                && !IsAllowedWhilePasswordMustChange(context.Request.Path))
            {
                var current = await context.RequestServices.GetRequiredService<TermsService>().CurrentAsync(context.RequestAborted);
                if (context.User.AcceptedTerms() < current.Version)
                {
                    context.Response.Redirect($"{TermsPath}?returnUrl={Uri.EscapeDataString(context.Request.Path + context.Request.QueryString)}");
                    return;
                }
            }
            await next(context);
        });

    private static bool IsAllowedWhilePasswordMustChange(PathString path) =>
        path.StartsWithSegments("/account") || path.StartsWithSegments("/_framework") || path.StartsWithSegments("/_content")
        || path.StartsWithSegments("/_blazor") || path.StartsWithSegments("/culture")
        || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || Path.HasExtension(path.Value)
        // The error and not-found pages must show (a gate's redirect would hide what went wrong).
        || path.StartsWithSegments(ErrorHandling.Path) || path.StartsWithSegments(ErrorHandling.NotFoundPath);

    public static IEndpointRouteBuilder MapSignOut(this IEndpointRouteBuilder endpoints)
    {
        // A form post with an antiforgery token (validated because the handler binds form data), never a GET link.
        endpoints.MapPost(SignOutPath, async (HttpContext context, AuditLog audit, [FromForm] string? returnUrl) =>
        {
            if (context.User.Identity?.IsAuthenticated == true)
            {
                await audit.RecordAsync(context.AuditActor(),
                    "auth.sign-out", context.User.Identity.Name, null, context.RequestAborted);
            }
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.LocalRedirect($"{SignInPath}?signedOut=1");
        });
        return endpoints;
    }
}
