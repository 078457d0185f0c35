namespace Portal.Security;

/// <summary>
/// The security headers of every response, pages and API alike, set in this one place. They are written as the
/// response starts, so error pages, problem details and redirects carry them too, and they replace the
/// <c>frame-ancestors</c>-only policy Blazor would set for its pages (docs/decisions/0012-security-headers.md).
/// </summary>
public static class SecurityHeaders
{
    /// <summary>
    /// The pages' policy. Scripts come only from the portal itself (blazor.web.js, Radzen.Blazor.js; no inline script,
    /// no eval). <c>connect-src 'self'</c> covers Blazor's WebSocket to the same host (ws/wss). Styles need
    /// <c>'unsafe-inline'</c>: Radzen and Blazor render style attributes (widths, positions) and set them from script,
    /// and Blazor's reconnect dialog brings its own &lt;style&gt; element.
    /// </summary>
    public const string PageContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        + "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>JSON is never a document to render: nothing may load, nothing may frame it.</summary>
    public const string ApiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'";

    /// <summary>Powerful features no page of the portal uses, switched off for it and anything it might embed.</summary>
    public const string PermissionsPolicy =
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

    /// <summary>Pages carry one-time tokens in their URLs (welcome and reset links): no page sends its address anywhere.</summary>
    public const string ReferrerPolicy = "no-referrer";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            // Decided on the path as requested: an error page re-executed for it runs under another path.
            var policy = Hosting.ErrorHandling.IsApi(context) ? ApiContentSecurityPolicy : PageContentSecurityPolicy;
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = policy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = ReferrerPolicy;
                headers["Permissions-Policy"] = PermissionsPolicy;
                return Task.CompletedTask;
            });
            return next(context);
        });
}
