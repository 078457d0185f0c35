using Portal.Auth;
using Portal.Domain.Accounts;
using Portal.Domain.Api;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Usage;

namespace Portal.Api;

public static partial class ApiEndpoints
{
    private static void MapUsersAndUsage(RouteGroupBuilder api)
    {
        var users = api.MapGroup("/users").WithTags("Users");
        users.MapGet("/", async (UserAdminService admin, string? search, string? role, string? status, string? department, bool? running,
            int? offset, int? limit, CancellationToken ct) =>
        {
            if (!TryFilter<Role>(role, "role", out var parsedRole, out var invalidRole))
            {
                return invalidRole;
            }
            if (!TryFilter<AccountStatus>(status, "status", out var parsedStatus, out var invalidStatus))
            {
                return invalidStatus;
            }
            var (o, l) = Paging(offset, limit);
            var page = await admin.SearchAsync(new UserSearch(search, parsedRole, parsedStatus, department, running, o, l), ct);
            return TypedResults.Ok(new ApiPage<UserDto>([.. page.Items.Select(UserDto.From)], page.Total, o, l));
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.UsersRead))
          .WithSummary("Searches accounts by username, name or email (substring), role, status, department and running server.");

        users.MapGet("/{username}", async (UserAdminService admin, string username, CancellationToken ct) =>
        {
            if (!Username.TryParse(username, out var name))
            {
                return Invalid("username", "Not a valid username.");
            }
            var detail = await admin.DetailAsync(name, ct);
            return detail is null ? TypedResults.NotFound() : TypedResults.Ok(UserDetailDto.From(detail));
        }).RequireAuthorization(ApiPolicies.For(ApiScopes.UsersRead))
          .WithSummary("One account: role, status, quota, terms accepted, server.");

        users.MapPost("/{username}/suspend", (UserAdminService admin, string username, SuspendRequest body, HttpContext context, CancellationToken ct) =>
            UserAction(username, name => admin.SuspendAsync(name, body.Reason, context.AuditActor(), ct)))
            .RequireAuthorization(ApiPolicies.For(ApiScopes.UsersWrite))
            .WithSummary("Suspends an account with a reason: LDAP lock and server stop follow as a job.");

        users.MapPost("/{username}/reinstate", (UserAdminService admin, string username, HttpContext context, CancellationToken ct) =>
            UserAction(username, name => admin.ReinstateAsync(name, context.AuditActor(), ct)))
            .RequireAuthorization(ApiPolicies.For(ApiScopes.UsersWrite))
            .WithSummary("Reinstates a suspended account.");

        var usage = api.MapGroup("/usage").WithTags("Usage");
        usage.MapGet("/users", (UsageQueries q, DateTimeOffset? from, DateTimeOffset? to, int? top, TimeProvider clock, CancellationToken ct) =>
            Period(from, to, clock, async p => TypedResults.Ok(await q.ByUserAsync(p, top is > 0 ? Math.Min(top.Value, 1000) : null, ct))))
            .RequireAuthorization(ApiPolicies.For(ApiScopes.UsageRead))
            .WithSummary("Hours and GPU-hours per user in [from, to) (default: the last 7 days); top limits the rows.");
        (string Path, Func<UsageQueries, UsagePeriod, CancellationToken, Task<object>> Query, string Summary)[] tables =
        [
            ("/departments", async (q, p, ct) => await q.ByDepartmentAsync(p, ct), "Hours and GPU-hours per department."),
            ("/days", async (q, p, ct) => await q.ByDayAsync(p, ct), "Hours and GPU-hours per UTC day."),
            ("/backends", async (q, p, ct) => await q.SpawnStatsAsync(p, ct), "Spawn time p50/p95 and failure rate per backend."),
        ];
        foreach (var (path, query, summary) in tables)
        {
            usage.MapGet(path, (UsageQueries q, DateTimeOffset? from, DateTimeOffset? to, TimeProvider clock, CancellationToken ct) =>
                Period(from, to, clock, async p => TypedResults.Ok(await query(q, p, ct))))
                .RequireAuthorization(ApiPolicies.For(ApiScopes.UsageRead))
                .WithSummary(summary + " Period [from, to), default the last 7 days.");
        }
    }

    private static async Task<IResult> UserAction(string username, Func<Username, Task<UserActionResult>> act)
    {
        if (!Username.TryParse(username, out var name))
        {
            return Invalid("username", "Not a valid username.");
        }
        var result = await act(name);
        return result.Outcome switch
        {
            UserActionOutcome.Requested => TypedResults.Accepted((string?)null, new UserActionDto(result.Outcome.ToString(), result.Message)),
            UserActionOutcome.NothingToDo => TypedResults.Ok(new UserActionDto(result.Outcome.ToString(), result.Message)),
            UserActionOutcome.NotFound => TypedResults.NotFound(),
            UserActionOutcome.Invalid => Invalid("request", result.Message ?? "Refused."),
            UserActionOutcome.LastAdmin => TypedResults.Problem(title: "Last administrator", detail: result.Message, statusCode: StatusCodes.Status409Conflict),
            _ => TypedResults.Problem(title: result.Outcome.ToString(), statusCode: StatusCodes.Status409Conflict),
        };
    }

    /// <summary>A half-open period from the query (default: the last 7 days), at most a year long.</summary>
    private static async Task<IResult> Period(DateTimeOffset? from, DateTimeOffset? to, TimeProvider clock, Func<UsagePeriod, Task<IResult>> query)
    {
        var end = to ?? clock.GetUtcNow();
        var start = from ?? end.AddDays(-7);
        if (start >= end || end - start > TimeSpan.FromDays(366))
        {
            return Invalid("from", "The period starts before it ends and spans at most a year.");
        }
        return await query(new UsagePeriod(start, end));
    }
}
