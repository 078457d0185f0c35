namespace Portal.Benchmarks;

/// <summary>
/// Compiled instead of AdminQueryCatalog.cs while the services it calls (UserAdminService of the user administration,
/// UsageQueries of the usage dashboards) are not in this tree: admin-queries then says so and measures nothing.
/// </summary>
public sealed class AdminQueryCatalog : IDisposable
{
    public static bool Available => false;

    public static AdminQueryCatalog Create(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        throw new NotSupportedException("admin-queries needs UserAdminService and UsageQueries in Portal.Infrastructure.");
    }

    public Task<int> SearchUsersAsync(UserSearchCase search, CancellationToken cancellationToken) => throw new NotSupportedException();

    public IReadOnlyList<DashboardQuery> DashboardQueries() => throw new NotSupportedException();

    public void Dispose()
    {
    }
}
