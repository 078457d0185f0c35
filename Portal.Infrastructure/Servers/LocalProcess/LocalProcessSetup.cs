using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.LocalProcess;

public static class LocalProcessSetup
{
    /// <summary>
    /// The local-process backend (<c>local</c>) and its options from the <c>LocalProcess</c> section, as a singleton
    /// registered as itself and as one more <see cref="ISpawnerBackend"/>.
    /// </summary>
    public static IServiceCollection AddLocalProcessBackend(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LocalProcessOptions>()
            .Bind(configuration.GetSection(LocalProcessOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.PortRangeStart <= o.PortRangeEnd,
                $"{LocalProcessOptions.Section}:PortRangeStart must not be above {LocalProcessOptions.Section}:PortRangeEnd.")
            .Validate(o => Path.IsPathFullyQualified(o.JupyterCommand),
                $"{LocalProcessOptions.Section}:JupyterCommand must be an absolute path.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LocalProcessBackend>();
        services.AddSingleton<ISpawnerBackend>(sp => sp.GetRequiredService<LocalProcessBackend>());
        return services;
    }
}
