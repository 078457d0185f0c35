using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.Docker;

public static class DockerSetup
{
    /// <summary>
    /// The Docker backend (<c>docker</c>) with its options from the <c>Docker</c> section (checked at start) and the named
    /// <see cref="HttpClient"/> that talks to the Engine over its unix socket, as a singleton registered as itself and
    /// as one more <see cref="ISpawnerBackend"/>.
    /// </summary>
    public static IServiceCollection AddDockerBackend(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DockerOptions>()
            .Bind(configuration.GetSection(DockerOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => Path.IsPathFullyQualified(o.SocketPath), $"{DockerOptions.Section}:SocketPath must be an absolute path.")
            .Validate(o => o.PortRangeStart.HasValue == o.PortRangeEnd.HasValue && !(o.PortRangeStart > o.PortRangeEnd),
                $"{DockerOptions.Section}:PortRangeStart and PortRangeEnd are set together, the start not above the end.")
            .Validate(o => o.ImageTemplate.Contains(DockerOptions.VersionPlaceholder, StringComparison.Ordinal),
                $"{DockerOptions.Section}:ImageTemplate must contain {DockerOptions.VersionPlaceholder}.")
            .Validate(o => o.ContainerHome.StartsWith('/') && o.SharedDataMountPoint.StartsWith('/'),
                $"{DockerOptions.Section}:ContainerHome and SharedDataMountPoint must be absolute paths in the container.")
            .Validate(o => o.SharedDataPath is not { Length: > 0 } shared || Path.IsPathFullyQualified(shared),
                $"{DockerOptions.Section}:SharedDataPath must be an absolute path.")
            .ValidateOnStart();
        services.AddHttpClient(DockerBackend.HttpClientName, (sp, client) =>
            {
                var options = sp.GetRequiredService<IOptions<DockerOptions>>().Value;
                client.BaseAddress = DockerBackend.ApiBase;
                // A stop waits up to StopTimeoutSeconds for the container before Docker answers.
                client.Timeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds + options.StopTimeoutSeconds);
            })
            .ConfigurePrimaryHttpMessageHandler(sp => SocketHandler(sp.GetRequiredService<IOptions<DockerOptions>>().Value.SocketPath));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DockerBackend>();
        services.AddSingleton<ISpawnerBackend>(sp => sp.GetRequiredService<DockerBackend>());
        return services;
    }

    /// <summary>An HTTP handler whose every connection goes to the unix socket at <paramref name="socketPath"/>.</summary>
    public static SocketsHttpHandler SocketHandler(string socketPath) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
