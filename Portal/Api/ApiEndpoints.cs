using System.Diagnostics.CodeAnalysis;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Portal.Auth;
using Portal.Domain.Accounts;
using Portal.Domain.Api;
using Portal.Domain.Common;
using Portal.Domain.Onboarding;
using Portal.Domain.Servers;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Servers;
using Portal.Security;

namespace Portal.Api;

/// <summary>
/// <c>/api/v1</c>: the REST API for automation, authorized by personal access tokens with the same rules as the pages
/// (docs/decisions/0011-rest-api.md). Its OpenAPI document is at <see cref="OpenApiPath"/>.
/// </summary>
public static partial class ApiEndpoints
{
    public const string Prefix = "/api/v1";
    public const string OpenApiPath = "/api/v1/openapi.json";
    public const int MaxLimit = 200;

    public static IEndpointRouteBuilder MapPortalApi(this IEndpointRouteBuilder endpoints)
    {
        // Every text a caller sends is checked before it can reach the database.
        var api = endpoints.MapGroup(Prefix).DisableAntiforgery().RefuseControlCharacters();
        MapApplications(api.MapGroup("/applications").WithTags("Applications"));
        MapServers(api.MapGroup("/servers").WithTags("Servers"));
        MapUsersAndUsage(api);
        return endpoints;
    }

    private static void MapApplications(RouteGroupBuilder group)
    {
        group.MapGet("/", async (ReviewService reviews, string? state, string? department, string? search, int? offset, int? limit,
            CancellationToken ct) =>
        {
            if (!TryFilter<ApplicationState>(state, "state", out var parsed, out var invalidState))
            {
                return invalidState;
            }
            var (o, l) = Paging(offset, limit);
            var (items, total) = await reviews.PageAsync(new ReviewQuery(State: parsed, Department: department, Search: search, Offset: o, Limit: l), ct);
            return TypedResults.Ok(new ApiPage<ApplicationDto>([.. items.Select(ApplicationDto.From)], total, o, l));
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ApplicationsRead))
          .WithSummary("Lists applications, newest first, filtered by state, department and a search text.");

        group.MapGet("/{id:guid}", async Task<Results<Ok<ApplicationDto>, NotFound>> (ReviewService reviews, Guid id, CancellationToken ct) =>
        {
            var (application, _) = await reviews.DetailAsync(id, ct);
            return application is null ? TypedResults.NotFound() : TypedResults.Ok(ApplicationDto.From(application));
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ApplicationsRead))
          .WithSummary("One application.");

        group.MapPost("/{id:guid}/approve", async (ReviewService reviews, Guid id, HttpContext context, CancellationToken ct) =>
            Decision(await reviews.ApproveAsync(id, Caller(context), context.SourceAddress(), ct)))
            .RequireAuthorization(ApiPolicies.For(ApiScopes.ApplicationsWrite))
            .WithSummary("Approves a submitted application; provisioning follows as a job.");

        group.MapPost("/{id:guid}/reject", async (ReviewService reviews, Guid id, RejectRequest body, HttpContext context, CancellationToken ct) =>
        {
            try
            {
                return Decision(await reviews.RejectAsync(id, Caller(context), body.Reason ?? "", context.SourceAddress(), ct));
            }
            catch (InvalidValueException e)
            {
                return Invalid("reason", e.Message);
            }
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ApplicationsWrite))
          .WithSummary("Rejects a submitted application with a reason the applicant is sent.");
    }

    private static void MapServers(RouteGroupBuilder group)
    {
        group.MapGet("/", async (ServerListing servers, HttpContext context, string? state, int? offset, int? limit, CancellationToken ct) =>
        {
            if (!context.User.IsInRole(nameof(Role.Admin)))
            {
                return Forbidden();
            }
            if (!TryFilter<ServerState>(state, "state", out var parsed, out var invalidState))
            {
                return invalidState;
            }
            var (o, l) = Paging(offset, limit);
            var (items, total) = await servers.PageAsync(parsed, o, l, ct);
            return TypedResults.Ok(new ApiPage<ServerDto>([.. items.Select(i => ServerDto.From(i.Server, i.Gpus, forOwner: false))], total, o, l));
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ServersRead))
          .WithSummary("Admins: every user's server, filtered by observed state.");

        group.MapGet("/{username}", async (ServerService servers, HttpContext context, string username, CancellationToken ct) =>
        {
            if (OwnerOrAdmin(context, username) is { } refusal)
            {
                return refusal;
            }
            var snapshot = await servers.SnapshotAsync(Username.Parse(username), ct);
            return snapshot.Server is null
                ? TypedResults.NotFound()
                : TypedResults.Ok(ServerDto.From(snapshot.Server, snapshot.GpuIndexes, forOwner: context.User.Identity!.Name == username));
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ServersRead))
          .WithSummary("A user's server: your own, or anybody's for admins.");

        group.MapPost("/{username}/start", async (ServerService servers, HttpContext context, string username, StartRequest? body, CancellationToken ct) =>
        {
            // As on the pages: people start their own server only.
            if (context.User.Identity!.Name != username)
            {
                return Forbidden();
            }
            var result = await servers.StartAsync(Username.Parse(username), body?.CudaToolkit, context.SourceAddress(), ct);
            return ServerRequest(result);
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ServersWrite))
          .WithSummary("Starts your own server (optionally with a CUDA toolkit); the start runs as a job, poll GET for progress.");

        group.MapPost("/{username}/stop", async (ServerService servers, HttpContext context, string username, CancellationToken ct) =>
        {
            if (OwnerOrAdmin(context, username) is { } refusal)
            {
                return refusal;
            }
            var result = await servers.StopAsync(Username.Parse(username), context.User.Identity!.Name!, context.SourceAddress(), ct);
            return ServerRequest(result);
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.ServersWrite))
          .WithSummary("Stops a server: your own, or anybody's for admins.");
    }

    private static IResult ServerRequest(ServerRequestResult result) => result switch
    {
        ServerRequestResult.Requested => TypedResults.Accepted((string?)null, new ServerRequestDto(result.ToString())),
        ServerRequestResult.AlreadyRequested => TypedResults.Ok(new ServerRequestDto(result.ToString())),
        ServerRequestResult.NoGpuAvailable or ServerRequestResult.Busy or ServerRequestResult.ToolkitRefused or ServerRequestResult.Maintenance =>
            TypedResults.Problem(title: result.ToString(), statusCode: StatusCodes.Status409Conflict),
        _ => TypedResults.Problem(title: result.ToString(), statusCode: StatusCodes.Status409Conflict),
    };

    private static IResult Decision(DecisionResult result) => result switch
    {
        DecisionResult.Decided d => TypedResults.Ok(ApplicationDto.From(d.Application)),
        DecisionResult.AlreadyDecided a => TypedResults.Problem(title: "Already decided",
            detail: $"The application is {a.State}{(a.DecidedBy is null ? "" : $" (by {a.DecidedBy})")}; nothing changed.",
            statusCode: StatusCodes.Status409Conflict),
        DecisionResult.NotFound => TypedResults.NotFound(),
        DecisionResult.UsernameTaken => TypedResults.Problem(title: "Username taken",
            detail: "An account or directory entry has this username by now; nothing changed.", statusCode: StatusCodes.Status409Conflict),
        DecisionResult.DirectoryUnavailable => TypedResults.Problem(title: "Directory unavailable",
            detail: "The directory could not be asked whether the username is free; nothing changed. Try again later.",
            statusCode: StatusCodes.Status503ServiceUnavailable),
        _ => throw new InvalidOperationException(result.GetType().Name),
    };

    /// <summary>A valid username that is the caller's own, or any for admins; otherwise the refusal to return.</summary>
    private static IResult? OwnerOrAdmin(HttpContext context, string username)
    {
        if (!Username.TryParse(username, out _))
        {
            return Invalid("username", "Not a valid username.");
        }
        return context.User.Identity!.Name == username || context.User.IsInRole(nameof(Role.Admin)) ? null : Forbidden();
    }

    /// <summary>
    /// A refusal decided in the endpoint (whose data, not which role): the same 403 the policies give, and audited the
    /// same way, so guessing another person's name is on record.
    /// </summary>
    private static IResult Forbidden() => new AuditedForbidResult();

    /// <summary>An optional enum filter from the query: absent is null; an unknown value is a problem naming the known ones.</summary>
    private static bool TryFilter<T>(string? text, string field, out T? value, [NotNullWhen(false)] out IResult? invalid)
        where T : struct, Enum
    {
        value = null;
        invalid = null;
        if (text is null)
        {
            return true;
        }
        if (Enum.TryParse<T>(text, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
        {
            value = parsed;
            return true;
        }
        invalid = Invalid(field, $"Unknown {field} '{text}'. Known: {string.Join(", ", Enum.GetNames<T>())}.");
        return false;
    }

    private static IResult Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });

    private static (int Offset, int Limit) Paging(int? offset, int? limit) =>
        (Math.Max(0, offset ?? 0), Math.Clamp(limit ?? 50, 1, MaxLimit));

    private static Username Caller(HttpContext context) => Username.Parse(context.User.FindFirstValue(ClaimTypes.Name)!);
}
