using System.Net.Http.Headers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.JupyterHub;

public static class JupyterHubSetup
{
    /// <summary>
    /// The JupyterHub backend (<c>jupyterhub</c>) with its options from the <c>JupyterHub</c> section (at least
    /// <c>BaseUrl</c> and <c>ApiToken</c>, checked at start) and the named <see cref="HttpClient"/> it uses, as a
    /// singleton registered as itself and as one more <see cref="ISpawnerBackend"/>.
    /// </summary>
    public static IServiceCollection AddJupyterHubBackend(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<JupyterHubOptions>()
            .Bind(configuration.GetSection(JupyterHubOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => IsHttpUrl(o.BaseUrl), $"{JupyterHubOptions.Section}:BaseUrl must be an absolute http(s) URL.")
            .Validate(o => o.PublicBaseUrl is not { Length: > 0 } || IsHttpUrl(o.PublicBaseUrl),
                $"{JupyterHubOptions.Section}:PublicBaseUrl must be an absolute http(s) URL.")
            .ValidateOnStart();
        services.AddHttpClient(JupyterHubBackend.HttpClientName, (sp, client) =>
            {
                var options = sp.GetRequiredService<IOptions<JupyterHubOptions>>().Value;
                client.BaseAddress = JupyterHubBackend.ApiBase(options.BaseUrl);
                client.Timeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds);
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("token", options.ApiToken);
            })
            // The hub's redirects lead to login pages, never to an API answer; a token must not follow them.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<JupyterHubBackend>();
        services.AddSingleton<ISpawnerBackend>(sp => sp.GetRequiredService<JupyterHubBackend>());
        return services;
    }

    private static bool IsHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
