using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Health;

/// <summary>The database answers a query.</summary>
public sealed class DatabaseReadinessCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("database unreachable", e);
        }
    }
}

/// <summary>The portal's service account can bind to LDAP.</summary>
public sealed class DirectoryReadinessCheck(IDirectory directory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await directory.CheckAvailableAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (DirectoryUnavailableException e)
        {
            return HealthCheckResult.Unhealthy("directory unreachable", e);
        }
    }
}
