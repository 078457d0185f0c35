using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Portal.Domain.Accounts;

namespace Portal.Auth;

/// <summary>What the authentication cookie carries about a person.</summary>
public static class PortalClaims
{
    public const string DisplayName = "portal:display_name";
    public const string MustChangePassword = "portal:must_change_password";
    public const string AcceptedTermsVersion = "portal:terms_version";

    public static ClaimsPrincipal For(Account account)
    {
        List<Claim> claims =
        [
            new(ClaimTypes.Name, account.Username.Value),
            new(DisplayName, account.DisplayName),
            new(ClaimTypes.Role, account.Role.ToString()),
            new(AcceptedTermsVersion, (account.AcceptedTermsVersion ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ];
        if (account.Email is { } email)
        {
            claims.Add(new Claim(ClaimTypes.Email, email.Value));
        }
        if (account.MustChangePassword)
        {
            claims.Add(new Claim(MustChangePassword, "true"));
        }
        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieAuthenticationDefaults.AuthenticationScheme));
    }

    public static bool MustChangePasswordNow(this ClaimsPrincipal user) => user.HasClaim(MustChangePassword, "true");

    public static int AcceptedTerms(this ClaimsPrincipal user) =>
        int.TryParse(user.FindFirstValue(AcceptedTermsVersion), System.Globalization.CultureInfo.InvariantCulture, out var version) ? version : 0;

    public static Role? PortalRole(this ClaimsPrincipal user) =>
        Enum.TryParse<Role>(user.FindFirstValue(ClaimTypes.Role), out var role) ? role : null;
}
