using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.Lxd;

public static class LxdSetup
{
    /// <summary>
    /// The LXD backend (<c>lxd</c>) with its options from the <c>Lxd</c> section (checked at start) and the named
    /// <see cref="HttpClient"/>s it uses (LXD's unix socket; the servers' proxy ports), as a singleton registered as
    /// itself and as one more <see cref="ISpawnerBackend"/>.
    /// </summary>
    public static IServiceCollection AddLxdBackend(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LxdOptions>()
            .Bind(configuration.GetSection(LxdOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => Path.IsPathFullyQualified(o.SocketPath), $"{LxdOptions.Section}:SocketPath must be an absolute path.")
            .Validate(o => Path.IsPathFullyQualified(o.HomeRoot), $"{LxdOptions.Section}:HomeRoot must be an absolute path.")
            .Validate(o => o.PortRangeStart <= o.PortRangeEnd,
                $"{LxdOptions.Section}:PortRangeStart must not be above {LxdOptions.Section}:PortRangeEnd.")
            .Validate(o => o.ImageTemplate.Contains("{major}", StringComparison.Ordinal) && o.ImageTemplate.Contains("{minor}", StringComparison.Ordinal),
                $"{LxdOptions.Section}:ImageTemplate must contain {{major}} and {{minor}}.")
            .Validate(o => o.Environment.Keys.All(k => k.Length > 0 && k.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') && !char.IsAsciiDigit(k[0])),
                $"{LxdOptions.Section}:Environment names are letters, digits and '_'.")
            .ValidateOnStart();
        services.AddHttpClient(LxdBackend.HttpClientName, client =>
            {
                client.BaseAddress = LxdClient.BaseAddress;
                // Each request has its own limit (operations are waited for longer than plain requests).
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            .ConfigurePrimaryHttpMessageHandler(sp => LxdClient.CreateHandler(sp.GetRequiredService<IOptions<LxdOptions>>().Value.SocketPath));
        services.AddHttpClient(LxdBackend.ServerHttpClientName, client => client.Timeout = TimeSpan.FromSeconds(5))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                UseProxy = false,
                AllowAutoRedirect = false,
                ConnectTimeout = TimeSpan.FromSeconds(3),
            });
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LxdBackend>();
        services.AddSingleton<ISpawnerBackend>(sp => sp.GetRequiredService<LxdBackend>());
        return services;
    }
}
