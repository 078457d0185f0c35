using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.Slurm;

public static class SlurmSetup
{
    /// <summary>
    /// The Slurm backend (<c>slurm</c>) and its options from the <c>Slurm</c> section (checked at start), as a
    /// singleton registered as itself and as one more <see cref="ISpawnerBackend"/>.
    /// </summary>
    public static IServiceCollection AddSlurmBackend(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SlurmOptions>()
            .Bind(configuration.GetSection(SlurmOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.PortRangeStart <= o.PortRangeEnd,
                $"{SlurmOptions.Section}:PortRangeStart must not be above {SlurmOptions.Section}:PortRangeEnd.")
            .Validate(o => Path.IsPathFullyQualified(o.CommandDirectory) && Path.IsPathFullyQualified(o.JupyterCommand)
                    && Path.IsPathFullyQualified(o.PythonCommand) && (o.ConfPath is not { Length: > 0 } conf || Path.IsPathFullyQualified(conf)),
                $"{SlurmOptions.Section}:CommandDirectory, JupyterCommand, PythonCommand and ConfPath must be absolute paths.")
            .Validate(o => System.Net.IPAddress.TryParse(o.JupyterIp, out _), $"{SlurmOptions.Section}:JupyterIp must be an IP address.")
            .Validate(o => o.Partition is not { Length: > 0 } p || !p.Any(char.IsWhiteSpace),
                $"{SlurmOptions.Section}:Partition must not contain spaces.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<SlurmBackend>();
        services.AddSingleton<ISpawnerBackend>(sp => sp.GetRequiredService<SlurmBackend>());
        return services;
    }
}
