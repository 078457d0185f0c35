using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Api;
using Portal.Infrastructure.Api;

namespace Portal.Api;

/// <summary>
/// <c>Authorization: Bearer gjp_…</c> on <c>/api/v1</c>. The API takes tokens only, never the browser's cookie, so a
/// page cannot be tricked into calling it on a signed-in person's behalf.
/// </summary>
public sealed class AccessTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AccessTokenService tokens) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "AccessToken";
    public const string ScopeClaim = "portal:scope";
    public const string TokenIdClaim = "portal:token_id";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }
        var identity = await tokens.AuthenticateAsync(header["Bearer ".Length..].Trim(), Context.RequestAborted);
        if (identity is null)
        {
            // Unknown, revoked and expired tokens get the same answer: nothing to learn by trying.
            return AuthenticateResult.Fail("The token is not valid.");
        }
        List<Claim> claims =
        [
            new(ClaimTypes.Name, identity.Owner.Username.Value),
            new(ClaimTypes.Role, identity.Owner.Role.ToString()),
            new(TokenIdClaim, identity.TokenId.ToString()),
        ];
        claims.AddRange(Enum.GetValues<ApiScopes>().Where(s => s != ApiScopes.None && identity.Scopes.HasFlag(s))
            .Select(s => new Claim(ScopeClaim, ApiScopeNames.Of(s))));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}

/// <summary>The scopes as the API and its documentation name them.</summary>
public static class ApiScopeNames
{
    public static string Of(ApiScopes scope) => scope switch
    {
        ApiScopes.UsersRead => "users:read",
        ApiScopes.UsersWrite => "users:write",
        ApiScopes.ApplicationsRead => "applications:read",
        ApiScopes.ApplicationsWrite => "applications:write",
        ApiScopes.ServersRead => "servers:read",
        ApiScopes.ServersWrite => "servers:write",
        ApiScopes.UsageRead => "usage:read",
        ApiScopes.None => throw new ArgumentOutOfRangeException(nameof(scope)),
        _ => throw new ArgumentOutOfRangeException(nameof(scope)),
    };

    public static IEnumerable<ApiScopes> Each => Enum.GetValues<ApiScopes>().Where(s => s != ApiScopes.None);
}

/// <summary>
/// One policy per scope: the token must carry the scope AND its owner must hold a role the pages would ask for.
/// Rules on whose data (a student's own server) are checked in the endpoint.
/// </summary>
public static class ApiPolicies
{
    public static string For(ApiScopes scope) => "api:" + ApiScopeNames.Of(scope);

    public static IServiceCollection AddPortalApiAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, AccessTokenAuthenticationHandler>(AccessTokenAuthenticationHandler.SchemeName, null);
        var authorization = services.AddAuthorizationBuilder();
        foreach (var scope in ApiScopeNames.Each)
        {
            authorization.AddPolicy(For(scope), policy =>
            {
                policy.AddAuthenticationSchemes(AccessTokenAuthenticationHandler.SchemeName);
                policy.RequireAuthenticatedUser();
                policy.RequireClaim(AccessTokenAuthenticationHandler.ScopeClaim, ApiScopeNames.Of(scope));
                policy.RequireRole(RolesFor(scope));
            });
        }
        return services;
    }

    private static string[] RolesFor(ApiScopes scope) => scope switch
    {
        ApiScopes.UsersRead or ApiScopes.UsersWrite or ApiScopes.UsageRead => [nameof(Role.Admin)],
        ApiScopes.ApplicationsRead or ApiScopes.ApplicationsWrite => [nameof(Role.Staff), nameof(Role.Admin)],
        ApiScopes.ServersRead or ApiScopes.ServersWrite => [nameof(Role.Student), nameof(Role.Staff), nameof(Role.Admin)],
        ApiScopes.None => throw new ArgumentOutOfRangeException(nameof(scope)),
        _ => throw new ArgumentOutOfRangeException(nameof(scope)),
    };
}
