using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Persistence.Migrations;

namespace Portal.Tests.Support;

/// <summary>A fresh, empty database on the test PostgreSQL for one test class; dropped on dispose.</summary>
public sealed class TestDatabase : IAsyncLifetime
{
    public string Name { get; } = $"portal_t_{Guid.NewGuid():N}";

    public string ConnectionString { get; private set; } = "";

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public static string MigrationsDirectory => Path.Combine(TestEnvironment.RepositoryRoot, "migrations");

    public async Task InitializeAsync()
    {
        var server = new NpgsqlConnectionStringBuilder(TestEnvironment.Current.PostgresConnectionString);
        await using (var admin = new NpgsqlConnection(server.ConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        server.Database = Name;
        ConnectionString = server.ConnectionString;
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public SqlMigrationRunner MigrationRunner(string? directory = null, NpgsqlDataSource? dataSource = null) =>
        new(dataSource ?? DataSource, directory ?? MigrationsDirectory, NullLogger<SqlMigrationRunner>.Instance);

    public async Task MigrateAsync() => await MigrationRunner().ApplyAsync(CancellationToken.None);

    public PortalDbContext CreateDbContext() =>
        new(new DbContextOptionsBuilder<PortalDbContext>().UseNpgsql(DataSource).Options);

    public IDbContextFactory<PortalDbContext> ContextFactory() => new Factory(this);

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(TestEnvironment.Current.PostgresConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    private sealed class Factory(TestDatabase database) : IDbContextFactory<PortalDbContext>
    {
        public PortalDbContext CreateDbContext() => database.CreateDbContext();
    }
}
