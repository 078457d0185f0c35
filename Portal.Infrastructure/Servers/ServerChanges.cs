using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Portal.Infrastructure.Servers;

/// <summary>
/// Tells open pages that a user's server changed. A change is announced with PostgreSQL NOTIFY, so pages on every
/// portal node (and every tab) hear it; a background LISTEN fans it out to the subscribers of this node.
/// </summary>
public sealed partial class ServerChanges(NpgsqlDataSource dataSource, ILogger<ServerChanges> logger) : BackgroundService
{
    public const string Channel = "portal_server_changed";
    private readonly ConcurrentDictionary<Guid, (string Username, Func<Task> Callback)> _subscribers = new();

    /// <summary>Calls <paramref name="changed"/> whenever <paramref name="username"/>'s server changes; dispose to stop.</summary>
    public IDisposable Subscribe(string username, Func<Task> changed)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = (username, changed);
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    public async Task PublishAsync(string username, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT pg_notify($1, $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = Channel });
        command.Parameters.Add(new NpgsqlParameter { Value = username });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => Fanout(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (NpgsqlException e)
            {
                // The database went away; pages keep their last state until it is back.
                LogListenFailed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            }
        }
    }

    private void Fanout(string username)
    {
        foreach (var (_, (user, callback)) in _subscribers)
        {
            if (user == username)
            {
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await callback();
                    }
                    catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
                    {
                        // The page went away between the change and the call.
                    }
                });
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for server changes failed; retrying")]
    private static partial void LogListenFailed(ILogger logger, Exception error);

    private sealed class Subscription(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
