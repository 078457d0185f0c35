using System.Threading.RateLimiting;
using Portal.Auth;
using Portal.Infrastructure.Onboarding;

namespace Portal.Onboarding;

/// <summary>The small JSON endpoint behind the application form's live username check.</summary>
public static class OnboardingEndpoints
{
    public const string UsernameCheckPath = "/apply/username-check";
    private const string UsernameCheckLimit = "username-check";

    /// <summary>At most 30 checks a minute per address: enough to type, too few to enumerate accounts.</summary>
    public static IServiceCollection AddOnboardingRateLimits(this IServiceCollection services) =>
        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.AddPolicy(UsernameCheckLimit, context => RateLimitPartition.GetFixedWindowLimiter(
                context.SourceAddress() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 30, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
        });

    public static IEndpointRouteBuilder MapOnboardingEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(UsernameCheckPath, async (string? name, ApplicationService applications, CancellationToken cancellationToken) =>
        {
            var availability = await applications.CheckUsernameAsync(name, cancellationToken);
            return Results.Json(new { status = availability.ToString().ToLowerInvariant() });
        }).AllowAnonymous().RequireRateLimiting(UsernameCheckLimit);
        return endpoints;
    }
}
