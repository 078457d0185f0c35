namespace Portal.Tests.Support;

/// <summary>Base for test classes whose every test gets its own fresh database with all migrations applied.</summary>
public abstract class MigratedDatabaseTest : IAsyncLifetime
{
    protected TestDatabase Database { get; } = new();

    public virtual async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await Database.MigrateAsync();
    }

    public virtual Task DisposeAsync() => Database.DisposeAsync();
}
