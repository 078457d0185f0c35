using Npgsql;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// One lock per job kind and key across every node: a PostgreSQL session advisory lock held on a connection of its
/// own for as long as the run lasts. Unlike Hangfire's lock rows it never expires while held, is not waited for, and
/// goes the moment a killed node's connection closes. The connections come from a pool of their own, sized to the
/// workers, so held locks never starve the portal's pool.
/// </summary>
public sealed class JobLocks(NpgsqlDataSource lockConnections) : IAsyncDisposable, IDisposable
{
    /// <summary>The advisory lock's first key: "JOB" and the kind, apart from every other lock the portal takes.</summary>
    private const int Namespace = 0x4A4F4200;

    /// <summary>The lock, or null when another run holds it.</summary>
    public async Task<IAsyncDisposable?> TryAcquireAsync(JobKind kind, string key, CancellationToken cancellationToken)
    {
        var connection = await lockConnections.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock($1, hashtext($2))", connection)
            {
                Parameters = { new() { Value = Namespace + (int)kind }, new() { Value = key } },
            };
            if ((bool)(await command.ExecuteScalarAsync(cancellationToken))!)
            {
                return new Held(connection, Namespace + (int)kind, key);
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        await connection.DisposeAsync();
        return null;
    }

    public ValueTask DisposeAsync() => lockConnections.DisposeAsync();

    public void Dispose() => lockConnections.Dispose();

    private sealed class Held(NpgsqlConnection connection, int space, string key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                // Unlocked explicitly: a pooled connection keeps its session, and with it the lock, until reused.
                await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock($1, hashtext($2))", connection)
                {
                    Parameters = { new() { Value = space }, new() { Value = key } },
                };
                await unlock.ExecuteScalarAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // The session is gone (Npgsql says "not open" for a connection it already found broken), and the lock
                // with it.
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }
}
