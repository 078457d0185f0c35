using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace Portal.Hosting;

/// <summary>
/// Serves <c>/_framework/blazor.web.js</c>, which the SDK would normally take from the
/// <c>Microsoft.AspNetCore.App.Internal.Assets</c> pack. That pack is not in this registry, so the script is read
/// from the manifest resource of <c>Microsoft.AspNetCore.Components.Endpoints.dll</c> in the
/// <c>Microsoft.AspNetCore.App.Runtime.linux-x64</c> 9.0.22 package (copied next to the app by Portal.csproj).
/// This is the only place that knows; docs/decisions/0001-blazor-script.md says how to remove it.
/// </summary>
public static class BlazorWebScript
{
    public const string RequestPath = "/_framework/blazor.web.js";
    public const string ResourceName = "_framework/blazor.web.js";

    public static string DefaultSourcePath =>
        Path.Combine(AppContext.BaseDirectory, "blazor-script-source", "Microsoft.AspNetCore.Components.Endpoints.dll");

    /// <summary>The script's bytes from the assembly's manifest resources.</summary>
    public static byte[] ReadFrom(string assemblyPath)
    {
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException(
                $"{assemblyPath} is missing, so blazor.web.js cannot be served. Build the Portal project (it copies the file from the Microsoft.AspNetCore.App.Runtime.linux-x64 9.0.22 package).",
                assemblyPath);
        }
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            if (!resource.Implementation.IsNil || metadata.GetString(resource.Name) != ResourceName)
            {
                continue;
            }
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var section = pe.GetSectionData(directory.RelativeVirtualAddress);
            var reader = section.GetReader(checked((int)resource.Offset), directory.Size - checked((int)resource.Offset));
            var length = reader.ReadInt32();
            return reader.ReadBytes(length);
        }
        throw new InvalidOperationException($"{assemblyPath} has no manifest resource '{ResourceName}'.");
    }

    /// <summary>Maps the script with an ETag so browsers revalidate cheaply and pick up a new build at once.</summary>
    public static IEndpointConventionBuilder MapBlazorWebScript(this IEndpointRouteBuilder endpoints, string? assemblyPath = null)
    {
        var script = ReadFrom(assemblyPath ?? DefaultSourcePath);
        var etag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(script))[..16]}\"");
        return endpoints.MapGet(RequestPath, (HttpContext context) =>
        {
            var headers = context.Response.GetTypedHeaders();
            headers.ETag = etag;
            headers.CacheControl = new CacheControlHeaderValue { NoCache = true };
            var ifNoneMatch = context.Request.GetTypedHeaders().IfNoneMatch;
            if (ifNoneMatch.Any(t => t.Compare(etag, useStrongComparison: false)))
            {
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }
            return Results.Bytes(script, "text/javascript");
        }).AllowAnonymous().ExcludeFromDescription();
    }
}
