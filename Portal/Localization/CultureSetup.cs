using System.Globalization;
using Microsoft.AspNetCore.Localization;

namespace Portal.Localization;

/// <summary>English and Japanese; the choice is kept in the standard culture cookie for a year.</summary>
public static class CultureSetup
{
    public const string SetCulturePath = "/culture";
    public static readonly string[] SupportedCultures = ["en", "ja"];

    public static IServiceCollection AddPortalLocalization(this IServiceCollection services)
    {
        services.AddLocalization(options => options.ResourcesPath = "Resources");
        services.Configure<RequestLocalizationOptions>(options =>
        {
            options.SetDefaultCulture(SupportedCultures[0])
                .AddSupportedCultures(SupportedCultures)
                .AddSupportedUICultures(SupportedCultures);
            options.FallBackToParentCultures = true;
            options.FallBackToParentUICultures = true;
        });
        return services;
    }

    /// <summary>Sets the language cookie and goes back where the person was. A preference, so a plain link may do it.</summary>
    public static IEndpointRouteBuilder MapCultureSwitch(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(SetCulturePath, (HttpContext context, string? name, string? returnUrl) =>
        {
            if (name is null || !SupportedCultures.Contains(name))
            {
                return Results.BadRequest($"Supported languages: {string.Join(", ", SupportedCultures)}.");
            }
            context.Response.Cookies.Append(
                CookieRequestCultureProvider.DefaultCookieName,
                CookieRequestCultureProvider.MakeCookieValue(new RequestCulture(CultureInfo.GetCultureInfo(name))),
                new CookieOptions { Expires = DateTimeOffset.UtcNow.AddYears(1), IsEssential = true, HttpOnly = true, SameSite = SameSiteMode.Lax });
            return Results.LocalRedirect(IsLocal(returnUrl) ? returnUrl! : "/");
        }).AllowAnonymous();
        return endpoints;
    }

    /// <summary>
    /// A path on this site: starts with one '/', not '//' or '/\' (which browsers treat as another host), and holds
    /// only printable ASCII. Browsers drop tabs and line breaks (<c>/%09/evil.example</c> becomes <c>//evil.example</c>),
    /// and a Location header cannot carry them or non-ASCII text; a path of the portal's own is sent escaped anyway.
    /// </summary>
    public static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'))
        && url.All(c => c is > ' ' and < '\u007f');
}
