using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Infrastructure.Usage;

public static class UsageSetup
{
    /// <summary>The usage services: <see cref="UsageQueries"/>, <see cref="StorageSampler"/> and their options.</summary>
    public static IServiceCollection AddUsage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<UsageOptions>().Bind(configuration.GetSection(UsageOptions.Section))
            .Validate(o => o.StorageSampleInterval >= TimeSpan.FromMinutes(1), $"{UsageOptions.Section}:StorageSampleInterval must be at least a minute.")
            .Validate(o => o.StorageWalkTimeout > TimeSpan.Zero, $"{UsageOptions.Section}:StorageWalkTimeout must be positive.")
            .ValidateOnStart();
        services.AddSingleton<UsageQueries>();
        services.AddSingleton<StorageSampler>();
        return services;
    }
}
