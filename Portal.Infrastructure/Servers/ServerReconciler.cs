using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Portal.Domain.Common;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Servers;

/// <summary>
/// Moves one server's observed state toward its desired state, talking to its backend. Safe to run twice and from
/// any node: every step re-reads the server, and a backend call is idempotent. Returns when to look again, if at all.
/// </summary>
public sealed partial class ServerReconciler(
    IDbContextFactory<PortalDbContext> contexts,
    IEnumerable<ISpawnerBackend> backends,
    GpuInventory gpus,
    QuotaService quotas,
    CudaCatalog catalog,
    ServerChanges changes,
    TimeProvider clock,
    ILogger<ServerReconciler> logger)
{
    private static readonly TimeSpan RetryAfterError = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CheckStartingAgain = TimeSpan.FromSeconds(2);

    public ISpawnerBackend Backend(string name) =>
        backends.FirstOrDefault(b => b.Name == name) ?? throw new InvalidOperationException($"No spawner backend named '{name}' is configured.");

    /// <summary>Returns the delay after which the server should be looked at again, or null when it is settled.</summary>
    public async Task<TimeSpan?> ReconcileAsync(Guid serverId, CancellationToken cancellationToken)
    {
        var server = await LoadAsync(serverId, cancellationToken);
        if (server is null)
        {
            return null;
        }
        var backend = Backend(server.Backend);
        try
        {
            return (server.Desired, server.Observed) switch
            {
                (DesiredServerState.Running, ServerState.StartPending) => await StartAsync(server, backend, cancellationToken),
                (DesiredServerState.Running, ServerState.Running) => await CheckRunningAsync(server, backend, cancellationToken),
                (_, ServerState.StopPending) => await StopAsync(server, backend, cancellationToken),
                (DesiredServerState.Stopped, ServerState.Running) => await StopAsync(server, backend, cancellationToken),
                (_, ServerState.Stopped or ServerState.Failed) => await ReleaseAsync(server, cancellationToken),
                _ => null,
            };
        }
        catch (Exception e) when (e is DbUpdateConcurrencyException or InvalidTransitionException)
        {
            // Somebody changed the server meanwhile (a click, another node): decide again from what is there now.
            return TimeSpan.Zero;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The backend or the network failed this time; remember it, show it, and try again shortly.
            LogAttemptFailed(logger, e, server.Username.Value, server.Observed);
            await UpdateAsync(serverId, s => s.RecordAttemptError($"{e.GetType().Name}: {e.Message}"), cancellationToken);
            var fresh = await LoadAsync(serverId, cancellationToken);
            if (fresh is { Observed: ServerState.StartPending } && TimedOut(fresh, backend))
            {
                await FailStartAsync(fresh, backend, $"The server did not start within {backend.StartTimeout.TotalSeconds:F0} s: {e.Message}", cancellationToken);
                return null;
            }
            return RetryAfterError;
        }
    }

    private async Task<TimeSpan?> StartAsync(UserServer server, ISpawnerBackend backend, CancellationToken cancellationToken)
    {
        if (server.Reference is not { } reference)
        {
            var spec = await SpecAsync(server, cancellationToken);
            var result = await backend.StartAsync(spec, cancellationToken);
            switch (result)
            {
                case StartResult.Ready ready:
                    await UpdateAsync(server.Id, s => s.Attach(ready.Server), cancellationToken);
                    await MarkRunningAsync(server.Id, ready.Url, cancellationToken);
                    return null;
                case StartResult.Pending pending:
                    await UpdateAsync(server.Id, s => s.Attach(pending.Server), cancellationToken);
                    reference = pending.Server;
                    break;
                case StartResult.Refused refused:
                    await FailStartAsync(server, backend, refused.Reason, cancellationToken, stopBackend: false);
                    return null;
                default:
                    throw new InvalidOperationException($"Unknown start result {result.GetType().Name}.");
            }
        }

        await foreach (var progress in backend.ProgressAsync(reference, cancellationToken))
        {
            var current = await LoadAsync(server.Id, cancellationToken);
            if (current is not { Observed: ServerState.StartPending })
            {
                // Stopped (or otherwise moved) while starting: the next run handles the new wish.
                return TimeSpan.Zero;
            }
            await UpdateAsync(server.Id, s => s.Progress(progress.Percent, progress.Message), cancellationToken);
            if (progress.Failed)
            {
                await FailStartAsync(current, backend, progress.Message, cancellationToken);
                return null;
            }
            if (progress.Ready)
            {
                break;
            }
        }

        var status = await backend.PollAsync(reference, cancellationToken);
        var latest = await LoadAsync(server.Id, cancellationToken);
        if (latest is not { Observed: ServerState.StartPending })
        {
            return TimeSpan.Zero;
        }
        switch (status)
        {
            case ServerStatus.Running running:
                await MarkRunningAsync(server.Id, running.Url, cancellationToken);
                return null;
            case ServerStatus.Failed failed:
                await FailStartAsync(latest, backend, failed.Reason, cancellationToken);
                return null;
            case ServerStatus.Stopped stopped:
                await FailStartAsync(latest, backend, stopped.Reason ?? "The server exited while starting.", cancellationToken);
                return null;
            case ServerStatus.Starting or ServerStatus.Stopping:
                if (TimedOut(latest, backend))
                {
                    await FailStartAsync(latest, backend, $"The server did not become ready within {backend.StartTimeout.TotalSeconds:F0} s.", cancellationToken);
                    return null;
                }
                return CheckStartingAgain;
            default:
                throw new InvalidOperationException($"Unknown status {status.GetType().Name}.");
        }
    }

    private async Task<TimeSpan?> CheckRunningAsync(UserServer server, ISpawnerBackend backend, CancellationToken cancellationToken)
    {
        var status = await backend.PollAsync(server.Reference!, cancellationToken);
        switch (status)
        {
            case ServerStatus.Running running:
                if (running.LastActivity is { } activity)
                {
                    await UpdateAsync(server.Id, s => s.RecordActivity(activity), cancellationToken);
                }
                return null;
            case ServerStatus.Stopped or ServerStatus.Failed:
                var reason = status is ServerStatus.Stopped stopped ? stopped.Reason : ((ServerStatus.Failed)status).Reason;
                await EndAsync(server.Id, s => s.MarkStopped(reason ?? "The server is no longer running.", clock.GetUtcNow()),
                    SessionOutcome.Stopped, reason, "server.found-stopped", cancellationToken);
                return null;
            case ServerStatus.Starting or ServerStatus.Stopping:
                return CheckStartingAgain;
            default:
                throw new InvalidOperationException($"Unknown status {status.GetType().Name}.");
        }
    }

    private async Task<TimeSpan?> StopAsync(UserServer server, ISpawnerBackend backend, CancellationToken cancellationToken)
    {
        if (server.Reference is { } reference)
        {
            await backend.StopAsync(reference, cancellationToken);
        }
        else if (server.Observed == ServerState.StopPending)
        {
            // Stopped before the backend ever answered the start: make sure nothing was started under this user.
            await backend.StopAsync(new ServerRef(backend.Name, server.Username, server.Username.Value), cancellationToken);
        }
        var restart = server.RestartAfterStop;
        await EndAsync(server.Id, s =>
        {
            if (s.Observed == ServerState.Running)
            {
                s.RequestStop(clock.GetUtcNow());
            }
            s.MarkStopped(null, clock.GetUtcNow());
        }, SessionOutcome.Stopped, null, "server.stopped", cancellationToken, keepGpus: restart);
        if (!restart)
        {
            return null;
        }
        // A toolkit switch: the same job starts it again right away, on the same GPUs.
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var stopped = await db.Servers.SingleAsync(s => s.Id == server.Id, cancellationToken);
            stopped.Restart(Guid.NewGuid(), clock.GetUtcNow());
            var gpuCount = await db.GpuAssignments.CountAsync(g => g.ServerId == server.Id, cancellationToken);
            db.ServerSessions.Add(ServerSession.Open(stopped, gpuCount));
            await db.SaveChangesAsync(cancellationToken);
            await changes.PublishAsync(stopped.Username.Value, cancellationToken);
        }
        return TimeSpan.Zero;
    }

    private async Task<TimeSpan?> ReleaseAsync(UserServer server, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.GpuAssignments.Where(g => g.ServerId == server.Id).ExecuteDeleteAsync(cancellationToken);
        return null;
    }

    private async Task FailStartAsync(UserServer server, ISpawnerBackend backend, string reason, CancellationToken cancellationToken, bool stopBackend = true)
    {
        // Never leave a half-started server behind: whatever the backend started is stopped before the record says failed.
        if (stopBackend)
        {
            await backend.StopAsync(server.Reference ?? new ServerRef(backend.Name, server.Username, server.Username.Value), cancellationToken);
        }
        await EndAsync(server.Id, s => s.MarkFailed(reason, clock.GetUtcNow()), SessionOutcome.Failed, reason, "server.start-failed", cancellationToken);
    }

    private async Task MarkRunningAsync(Guid serverId, Uri url, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var server = await db.Servers.SingleAsync(s => s.Id == serverId, cancellationToken);
        var now = clock.GetUtcNow();
        server.MarkRunning(url, now);
        var session = server.CurrentSessionId is { } id ? await db.ServerSessions.SingleOrDefaultAsync(s => s.Id == id, cancellationToken) : null;
        session?.Ready(now);
        AuditLog.Stage(db, AuditActor.System, "server.running", $"server:{server.Username}",
            new { seconds = session?.SpawnDuration?.TotalSeconds }, now);
        await db.SaveChangesAsync(cancellationToken);
        await changes.PublishAsync(server.Username.Value, cancellationToken);
    }

    /// <summary>Applies an ending move, closes the session and frees the GPUs, in one transaction.</summary>
    private async Task EndAsync(Guid serverId, Action<UserServer> move, SessionOutcome outcome, string? reason, string action,
        CancellationToken cancellationToken, bool keepGpus = false)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var server = await db.Servers.SingleAsync(s => s.Id == serverId, cancellationToken);
        var now = clock.GetUtcNow();
        var sessionId = server.CurrentSessionId;
        move(server);
        if (sessionId is { } id && await db.ServerSessions.SingleOrDefaultAsync(s => s.Id == id && s.Outcome == SessionOutcome.Open, cancellationToken) is { } session)
        {
            session.End(outcome, reason, now);
        }
        if (!keepGpus)
        {
            db.GpuAssignments.RemoveRange(await db.GpuAssignments.Where(g => g.ServerId == serverId).ToListAsync(cancellationToken));
        }
        AuditLog.Stage(db, AuditActor.System, action, $"server:{server.Username}", new { reason }, now);
        await db.SaveChangesAsync(cancellationToken);
        await changes.PublishAsync(server.Username.Value, cancellationToken);
    }

    private async Task UpdateAsync(Guid serverId, Action<UserServer> change, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var server = await db.Servers.SingleAsync(s => s.Id == serverId, cancellationToken);
        change(server);
        await db.SaveChangesAsync(cancellationToken);
        await changes.PublishAsync(server.Username.Value, cancellationToken);
    }

    private async Task<ServerSpec> SpecAsync(UserServer server, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var indexes = await db.GpuAssignments.Where(g => g.ServerId == server.Id).Select(g => g.GpuIndex).ToListAsync(cancellationToken);
        var (_, limits) = await quotas.ForAsync(server.Username, cancellationToken);
        var devices = gpus.Devices.Where(g => indexes.Contains(g.Index)).OrderBy(g => g.Index).ToList();
        var (toolkit, _) = await catalog.CheckAsync(server.CudaToolkit, server.Backend, cancellationToken);
        return new ServerSpec(server.Id, server.Username, server.CudaToolkit, devices, limits)
        {
            CudaProvision = toolkit?.Provisions.GetValueOrDefault(server.Backend),
        };
    }

    private bool TimedOut(UserServer server, ISpawnerBackend backend) =>
        clock.GetUtcNow() - (server.StartRequestedAt ?? server.StateChangedAt) > backend.StartTimeout;

    private async Task<UserServer?> LoadAsync(Guid serverId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Servers.AsNoTracking().SingleOrDefaultAsync(s => s.Id == serverId, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciling the server of {Username} ({State}) failed; retrying")]
    private static partial void LogAttemptFailed(ILogger logger, Exception error, string username, ServerState state);
}
