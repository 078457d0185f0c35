using Microsoft.OpenApi;

namespace Portal.Api;

public static class ApiSetup
{
    /// <summary>Token authentication, the per-scope policies, and the OpenAPI document of <c>/api/v1</c>.</summary>
    public static IServiceCollection AddPortalApi(this IServiceCollection services)
    {
        services.AddPortalApiAuthentication();
        services.AddOpenApi(ApiDocument, options =>
        {
            // Only /api/v1 belongs in the document; the pages and their form posts are not an API.
            options.ShouldInclude = description => description.RelativePath?.StartsWith("api/v1", StringComparison.Ordinal) == true;
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "GPU Jupyter portal API",
                    Version = "v1",
                    Description = "Users, applications, servers and usage. Authenticate with `Authorization: Bearer gjp_…`, a personal "
                        + "access token an admin creates at /admin/tokens. A token acts as its owner: its scopes narrow, never widen, "
                        + "what the owner's role allows.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "A personal access token (gjp_…).",
                };
                document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];
                return Task.CompletedTask;
            });
        });
        return services;
    }

    /// <summary>The document's name; MapOpenApi serves it at <see cref="ApiEndpoints.OpenApiPath"/>.</summary>
    public const string ApiDocument = "v1";
}
