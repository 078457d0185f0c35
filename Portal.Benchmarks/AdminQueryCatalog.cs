using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Portal.Infrastructure;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Usage;

namespace Portal.Benchmarks;

/// <summary>
/// The admin console's queries, called the way its pages call them: the users page's
/// <see cref="UserAdminService.SearchAsync"/> and the usage dashboard's <see cref="UsageQueries"/>, built by the
/// portal's own service registration over the benchmark's database. The one file of the benchmark that names those
/// services (Portal.Benchmarks.csproj compiles AdminQueryCatalog.Pending.cs instead while they are absent).
/// </summary>
public sealed class AdminQueryCatalog : IDisposable
{
    private readonly IHost _host;
    private readonly UserAdminService _users;
    private readonly UsageQueries _usage;

    private AdminQueryCatalog(IHost host)
    {
        _host = host;
        _users = host.Services.GetService<UserAdminService>() ?? ActivatorUtilities.CreateInstance<UserAdminService>(host.Services);
        _usage = host.Services.GetService<UsageQueries>() ?? new UsageQueries(host.Services.GetRequiredService<NpgsqlDataSource>(), TimeProvider.System);
    }

    public static bool Available => true;

    /// <summary>The portal's services over <paramref name="connectionString"/> (not started: no jobs run).</summary>
    public static AdminQueryCatalog Create(string connectionString)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Portal"] = connectionString;
        builder.Configuration["Servers:DiscoverGpus"] = "false";
        builder.Configuration["Logging:LogLevel:Default"] = "Warning";
        builder.Services.AddPortalInfrastructure(builder.Configuration);
        return new AdminQueryCatalog(builder.Build());
    }

    /// <summary>The users page's search; answers the number of matching accounts (the page's total).</summary>
    public async Task<int> SearchUsersAsync(UserSearchCase search, CancellationToken cancellationToken)
    {
        var page = await _users.SearchAsync(new UserSearch(search.Text, search.Role, search.Status, search.Department,
            search.HasRunningServer, search.Offset, search.Limit), cancellationToken);
        return page.Total;
    }

    /// <summary>Every query of the usage dashboard, for the periods it offers (now = when each one runs).</summary>
    public IReadOnlyList<DashboardQuery> DashboardQueries()
    {
        static UsagePeriod Last(int days) => UsagePeriod.Last(TimeSpan.FromDays(days), DateTimeOffset.UtcNow);
        return
        [
            new("usage by user, top 20, 30 d", async ct => (await _usage.ByUserAsync(Last(30), 20, ct)).Count),
            new("usage by user, top 20, 90 d", async ct => (await _usage.ByUserAsync(Last(90), 20, ct)).Count),
            new("usage by department, 30 d", async ct => (await _usage.ByDepartmentAsync(Last(30), ct)).Count),
            new("usage by day, 90 d", async ct => (await _usage.ByDayAsync(Last(90), ct)).Count),
            new("spawn p50/p95 + failure rate, 30 d", async ct => (await _usage.SpawnStatsAsync(Last(30), ct)).Count),
            new("spawn p50/p95 + failure rate, 90 d", async ct => (await _usage.SpawnStatsAsync(Last(90), ct)).Count),
            new("applications by state, 90 d", async ct => (await _usage.ApplicationsByStateAsync(Last(90), ct)).Count),
            new("open applications by age", async ct => (await _usage.OpenApplicationsByAgeAsync(Last(90), ct)).Count),
            new("servers/GPUs per hour, 7 d", async ct => (await _usage.ConcurrencyAsync(Last(7), UsageBucket.Hour, ct)).Count),
            new("servers/GPUs per day, 90 d", async ct => (await _usage.ConcurrencyAsync(Last(90), UsageBucket.Day, ct)).Count),
            new("failures per day, 90 d", async ct => (await _usage.FailuresByDayAsync(Last(90), ct)).Count),
        ];
    }

    public void Dispose() => _host.Dispose();
}
