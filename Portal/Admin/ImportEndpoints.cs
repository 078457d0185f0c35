using Portal.Auth;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding.Import;
using Portal.Infrastructure.Onboarding.Import;

namespace Portal.Admin;

/// <summary>
/// Bulk onboarding over HTTP, for admins only (the page <c>/admin/import</c> calls the same service):
/// <c>POST /admin/import/preview?fileName=…</c> with the CSV as the body (<c>text/csv</c>),
/// <c>POST /admin/import/{id}/confirm</c> (with the header <c>X-Portal-Confirm: 1</c>, which no cross-site form can
/// send), and <c>GET /admin/import/{id}/rows</c> for where each row stands.
/// </summary>
public static class ImportEndpoints
{
    public const string PreviewPath = "/admin/import/preview";
    public const string ConfirmHeader = "X-Portal-Confirm";

    public static string ConfirmPath(Guid batchId) => $"/admin/import/{batchId}/confirm";

    public static string RowsPath(Guid batchId) => $"/admin/import/{batchId}/rows";

    public sealed record RowDto(int Row, string? Name, string? Email, string? Id, string? Department, string? Username, bool UsernameProposed,
        string Status, IReadOnlyList<ImportProblem> Problems, Guid? ApplicationId, string? ProvisioningError);

    public sealed record BatchDto(Guid Id, string FileName, string FileHash, string UploadedBy, DateTimeOffset UploadedAt, DateTimeOffset? ConfirmedAt,
        int TotalRows, IReadOnlyDictionary<string, int> Counts, Guid? SameFileImportedIn, IReadOnlyList<RowDto> Rows);

    public static IEndpointRouteBuilder MapImportEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost(PreviewPath, async (HttpContext context, ImportService import, string? fileName) =>
        {
            if (context.Request.ContentType?.StartsWith("text/csv", StringComparison.OrdinalIgnoreCase) != true)
            {
                return Results.Problem("Send the file as text/csv.", statusCode: StatusCodes.Status415UnsupportedMediaType);
            }
            var content = await ReadLimitedAsync(context.Request.Body, ImportCsv.MaxBytes, context.RequestAborted);
            if (content is null)
            {
                return Results.Problem(ImportCsv.Problems.FileTooLarge, statusCode: StatusCodes.Status413PayloadTooLarge);
            }
            var result = await import.PreviewAsync(content, fileName, Me(context), context.SourceAddress(), context.RequestAborted);
            if (result.Batch is null)
            {
                return Results.Problem(result.FileProblemDetail is null ? result.FileProblem : $"{result.FileProblem}: {result.FileProblemDetail}",
                    statusCode: StatusCodes.Status422UnprocessableEntity);
            }
            return Results.Ok(await BatchAsync(import, result.Batch.Id, result.EarlierConfirmedSameFile?.Id, context.RequestAborted));
        }).RequireAuthorization(AuthenticationSetup.AdminPolicy);

        endpoints.MapPost("/admin/import/{batchId:guid}/confirm", async (HttpContext context, ImportService import, Guid batchId) =>
        {
            if (!context.Request.Headers.ContainsKey(ConfirmHeader))
            {
                return Results.Problem($"The header {ConfirmHeader} is required.", statusCode: StatusCodes.Status400BadRequest);
            }
            return await import.ConfirmAsync(batchId, Me(context), context.SourceAddress(), context.RequestAborted) switch
            {
                ImportConfirmResult.Confirmed c => Results.Ok(new { status = "Confirmed", c.Created, c.Existing, c.Invalid }),
                ImportConfirmResult.AlreadyConfirmed a => Results.Conflict(new { status = "AlreadyConfirmed", a.By, a.At }),
                ImportConfirmResult.NotFound => Results.NotFound(),
                _ => throw new InvalidOperationException("Unknown confirmation result."),
            };
        }).RequireAuthorization(AuthenticationSetup.AdminPolicy);

        endpoints.MapGet("/admin/import/{batchId:guid}/rows", async (HttpContext context, ImportService import, Guid batchId) =>
            await BatchAsync(import, batchId, null, context.RequestAborted) is { } batch ? Results.Ok(batch) : Results.NotFound())
            .RequireAuthorization(AuthenticationSetup.AdminPolicy);
        return endpoints;
    }

    private static async Task<BatchDto?> BatchAsync(ImportService import, Guid batchId, Guid? sameFile, CancellationToken cancellationToken)
    {
        if (await import.BatchAsync(batchId, cancellationToken) is not { } view)
        {
            return null;
        }
        var (rows, _) = await import.RowsAsync(batchId, problemsOnly: false, 0, ImportCsv.MaxRows, cancellationToken);
        var b = view.Batch;
        return new BatchDto(b.Id, b.FileName, b.FileHash, b.UploadedBy, b.UploadedAt, b.ConfirmedAt, b.TotalRows,
            view.Counts.ToDictionary(c => c.Key.ToString(), c => c.Value), sameFile,
            [.. rows.Select(r => new RowDto(r.Row.RowNumber, r.Row.FullName, r.Row.Email, r.Row.AffiliationId, r.Row.Department, r.Row.Username,
                r.Row.UsernameProposed, r.Status.ToString(), r.Row.Problems, r.Row.ApplicationId, r.ProvisioningError))]);
    }

    /// <summary>The body, or null when it is longer than <paramref name="limit"/> (read no further than that).</summary>
    private static async Task<byte[]?> ReadLimitedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static Username Me(HttpContext context) => Username.Parse(context.User.Identity!.Name);
}
