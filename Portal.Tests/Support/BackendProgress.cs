using Portal.Domain.Servers;

namespace Portal.Tests.Support;

/// <summary>Reads a backend's progress stream to its end (bounded), for the backend tests.</summary>
public static class BackendProgress
{
    public static async Task<List<ProgressEvent>> CollectAsync(ISpawnerBackend backend, ServerRef server, TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        var events = new List<ProgressEvent>();
        await foreach (var progress in backend.ProgressAsync(server, limit.Token))
        {
            events.Add(progress);
        }
        return events;
    }
}
