using Hangfire;
using Portal.Auth;
using Portal.Infrastructure.Audit;

namespace Portal.Admin;

/// <summary>
/// Hangfire's dashboard at <see cref="Path"/>, for admins only: the portal's cookie and the admin policy decide, so a
/// student or staff member is refused and the refusal is audited as <c>auth.denied</c> like any other. Every action
/// an admin takes there (requeue, delete, enqueue a scheduled job, trigger or remove a recurring job) is recorded as
/// <see cref="ActionAuditAction"/> with their name, the dashboard route and the job ids (docs/decisions/0015-jobs-on-hangfire.md).
/// </summary>
public static partial class JobDashboard
{
    public const string Path = "/admin/hangfire";

    public const string ActionAuditAction = "admin.job.dashboard";

    /// <summary>The dashboard's one POST that changes nothing: the live counters it polls.</summary>
    private const string StatsRoute = "/stats";

    /// <summary>Records the admin's dashboard actions; goes after authentication and authorization.</summary>
    public static IApplicationBuilder UseJobDashboardAudit(this IApplicationBuilder app) =>
        app.UseWhen(context => HttpMethods.IsPost(context.Request.Method)
                && context.Request.Path.StartsWithSegments(Path, out var route) && route != StatsRoute,
            branch => branch.Use(async (context, next) =>
            {
                await next(context);
                // 204 is Hangfire's "done"; a refusal (401 read-only, 403 antiforgery or policy, 422 no ids) changed nothing.
                if (context.Response.StatusCode is StatusCodes.Status204NoContent or StatusCodes.Status200OK)
                {
                    await RecordAsync(context);
                }
            }));

    public static IEndpointConventionBuilder MapJobDashboard(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapHangfireDashboardWithAuthorizationPolicy(AuthenticationSetup.AdminPolicy, Path, new DashboardOptions
        {
            AppPath = "/admin/jobs",
            DashboardTitle = "GPU Jupyter portal — jobs",
            DisplayStorageConnectionString = false,
            FaviconPath = "/favicon.ico",
        });

    private static async Task RecordAsync(HttpContext context)
    {
        context.Request.Path.StartsWithSegments(Path, out var route);
        // Hangfire has read the form already (its commands take the ids from it), so this costs nothing.
        string[] ids = context.Request.HasFormContentType ? [.. context.Request.Form["jobs[]"].OfType<string>()] : [];
        var audit = context.RequestServices.GetRequiredService<AuditLog>();
        try
        {
            await audit.RecordAsync(context.AuditActor(), ActionAuditAction, $"hangfire:{route.Value}",
                new { route = route.Value, jobs = ids }, CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The action is done; a missing record is an error for the log, not for the admin's click.
            LogAuditFailed(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(JobDashboard)), e,
                context.User.Identity?.Name, route.Value);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not audit the job dashboard action of {Actor} on {Route}")]
    private static partial void LogAuditFailed(ILogger logger, Exception error, string? actor, string? route);
}
