using System.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Audit;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Servers;

public enum ServerRequestResult
{
    /// <summary>Recorded; the job is on it.</summary>
    Requested,

    /// <summary>Already starting or running (or already stopping or stopped): nothing changed.</summary>
    AlreadyRequested,

    /// <summary>The user's quota includes GPUs and none is free; nothing starts.</summary>
    NoGpuAvailable,

    /// <summary>A stop is still in progress; start again when it is done.</summary>
    Busy,

    /// <summary>The toolkit asked for is not in the catalog, not offered by the backend, or needs a newer driver.</summary>
    ToolkitRefused,

    /// <summary>Maintenance mode is on: only admins may start servers; nothing starts.</summary>
    Maintenance,
}

/// <summary>What the server page shows: the server, its GPUs, and how long this user's starts usually take.</summary>
public sealed record ServerSnapshot(UserServer? Server, IReadOnlyList<int> GpuIndexes, TimeSpan? TypicalStart, ResourceLimits Limits);

/// <summary>
/// What people do with their server: start, stop, keep running. Each writes the desired state and asks the server's
/// job to converge (docs/decisions/0006-jobs.md); it never talks to a backend itself.
/// </summary>
public sealed class ServerService(
    IDbContextFactory<PortalDbContext> contexts,
    QuotaService quotas,
    GpuInventory gpus,
    CudaCatalog catalog,
    IJobTrigger jobs,
    ServerChanges changes,
    IOptions<ServerOptions> options,
    TimeProvider clock)
{
    public async Task<ServerSnapshot> SnapshotAsync(Username username, CancellationToken cancellationToken)
    {
        var (_, limits) = await quotas.ForAsync(username, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var server = await db.Servers.AsNoTracking().SingleOrDefaultAsync(s => s.Username == username, cancellationToken);
        var gpuIndexes = server is null ? [] : await db.GpuAssignments.Where(g => g.ServerId == server.Id)
            .OrderBy(g => g.GpuIndex).Select(g => g.GpuIndex).ToListAsync(cancellationToken);
        var recent = await db.ServerSessions.AsNoTracking()
            .Where(s => s.Username == username && s.ReadyAt != null)
            .OrderByDescending(s => s.RequestedAt).Take(10)
            .Select(s => new { s.RequestedAt, s.ReadyAt }).ToListAsync(cancellationToken);
        var durations = recent.Select(s => (s.ReadyAt!.Value - s.RequestedAt).TotalSeconds).Order().ToList();
        TimeSpan? typical = durations.Count == 0 ? null : TimeSpan.FromSeconds(durations[durations.Count / 2]);
        return new ServerSnapshot(server, gpuIndexes, typical, limits);
    }

    /// <summary>Starts the server of <paramref name="username"/>, who is the requester; during maintenance their role
    /// (the portal's account record; no record: a student) decides whether they may.</summary>
    public async Task<ServerRequestResult> StartAsync(Username username, string? cudaToolkit, string? sourceAddress, CancellationToken cancellationToken)
    {
        Role role;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            role = await db.Accounts.Where(a => a.Username == username).Select(a => (Role?)a.Role).SingleOrDefaultAsync(cancellationToken) ?? Role.Student;
        }
        return await StartAsync(username, cudaToolkit, sourceAddress, role, cancellationToken);
    }

    /// <summary>Starts the server of <paramref name="username"/>, asked by a person of <paramref name="requesterRole"/>
    /// (the page passes the signed-in person's role). While maintenance mode is on only an admin may start.</summary>
    public async Task<ServerRequestResult> StartAsync(Username username, string? cudaToolkit, string? sourceAddress, Role requesterRole, CancellationToken cancellationToken)
    {
        if (requesterRole != Role.Admin && await InMaintenanceAsync(cancellationToken))
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            AuditLog.Stage(db, new AuditActor(username.Value, sourceAddress), "server.start-refused", $"server:{username}",
                new { reason = "maintenance", role = requesterRole.ToString() }, clock.GetUtcNow());
            await db.SaveChangesAsync(cancellationToken);
            return ServerRequestResult.Maintenance;
        }
        if (cudaToolkit is not null && (await catalog.CheckAsync(cudaToolkit, options.Value.Backend, cancellationToken)).Refusal is not null)
        {
            return ServerRequestResult.ToolkitRefused;
        }
        var (_, limits) = await quotas.ForAsync(username, cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            // The server and the GPU assignments are read from one snapshot: a click that read the server as stopped
            // must not then see the GPU that another click took for this very server, and say "no GPU free".
            // A concurrent change to the server row then fails the save (40001), and the retry sees the server wanted.
            await using var snapshot = await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            var now = clock.GetUtcNow();
            var server = await db.Servers.SingleOrDefaultAsync(s => s.Username == username, cancellationToken);
            if (server is null)
            {
                server = UserServer.Create(username, options.Value.Backend, now);
                db.Servers.Add(server);
            }
            if (server.Observed == ServerState.StopPending)
            {
                return ServerRequestResult.Busy;
            }
            if (!server.RequestStart(options.Value.Backend, cudaToolkit, Guid.NewGuid(), now))
            {
                return ServerRequestResult.AlreadyRequested;
            }
            var taken = (await db.GpuAssignments.Select(g => g.GpuIndex).ToListAsync(cancellationToken)).ToHashSet();
            var picked = GpuAllocator.Pick(gpus.Devices, taken, limits.GpuCount, limits.GpuModel);
            if (picked is null)
            {
                return ServerRequestResult.NoGpuAvailable;
            }
            foreach (var gpu in picked)
            {
                db.GpuAssignments.Add(new GpuAssignment { GpuIndex = gpu.Index, ServerId = server.Id, AssignedAt = now });
            }
            db.ServerSessions.Add(ServerSession.Open(server, picked.Count));
            AuditLog.Stage(db, new AuditActor(username.Value, sourceAddress), "server.start-requested", $"server:{username}",
                new { backend = server.Backend, cuda = cudaToolkit, gpus = picked.Select(g => g.Index) }, now);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await snapshot.CommitAsync(cancellationToken);
            }
            catch (DbUpdateException e) when (attempt < 3 && IsRace(e))
            {
                // Another tab or node changed the server, or took the GPU we picked, first: look again.
                continue;
            }
            catch (PostgresException e) when (attempt < 3 && e.SqlState == PostgresErrorCodes.SerializationFailure)
            {
                continue;
            }
            await jobs.RunSoonAsync(JobRequest.Server(server.Id), cancellationToken);
            await changes.PublishAsync(username.Value, cancellationToken);
            return ServerRequestResult.Requested;
        }
    }

    public async Task<ServerRequestResult> StopAsync(Username username, string actor, string? sourceAddress, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var server = await db.Servers.SingleOrDefaultAsync(s => s.Username == username, cancellationToken);
            var now = clock.GetUtcNow();
            if (server is null || !server.RequestStop(now))
            {
                if (server is not null)
                {
                    await db.SaveChangesAsync(cancellationToken);
                }
                return ServerRequestResult.AlreadyRequested;
            }
            if (server.Observed == ServerState.Stopped)
            {
                // A failed server: nothing runs, so release what it held right here.
                await db.GpuAssignments.Where(g => g.ServerId == server.Id).ExecuteDeleteAsync(cancellationToken);
            }
            AuditLog.Stage(db, new AuditActor(actor, sourceAddress), "server.stop-requested", $"server:{username}", null, now);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateConcurrencyException) when (attempt < 3)
            {
                continue;
            }
            await jobs.RunSoonAsync(JobRequest.Server(server.Id), cancellationToken);
            await changes.PublishAsync(username.Value, cancellationToken);
            return ServerRequestResult.Requested;
        }
    }

    /// <summary>
    /// Switches the CUDA toolkit: remembered for the next start, or, for a running server, one job that stops it and
    /// starts it again with the new toolkit. A value not in the catalog (whatever the page sent) changes nothing.
    /// </summary>
    public async Task<ServerRequestResult> SwitchToolkitAsync(Username username, string? version, string? sourceAddress, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var server = await db.Servers.SingleOrDefaultAsync(s => s.Username == username, cancellationToken);
        if (server is null)
        {
            server = UserServer.Create(username, options.Value.Backend, now);
            db.Servers.Add(server);
        }
        var backend = server.Observed is ServerState.Stopped or ServerState.Failed ? options.Value.Backend : server.Backend;
        var (toolkit, refusal) = await catalog.CheckAsync(version, backend, cancellationToken);
        if (refusal is not null || toolkit is null)
        {
            return ServerRequestResult.ToolkitRefused;
        }
        if (server.IsPending)
        {
            return ServerRequestResult.Busy;
        }
        if (server.CudaToolkit == toolkit.Version)
        {
            return ServerRequestResult.AlreadyRequested;
        }
        var restarting = server.Observed == ServerState.Running;
        server.SwitchToolkit(toolkit.Version, now);
        AuditLog.Stage(db, new AuditActor(username.Value, sourceAddress), "server.toolkit-switched", $"server:{username}",
            new { version = toolkit.Version, restarting }, now);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ServerRequestResult.Busy;
        }
        if (restarting)
        {
            await jobs.RunSoonAsync(JobRequest.Server(server.Id), cancellationToken);
        }
        await changes.PublishAsync(username.Value, cancellationToken);
        return ServerRequestResult.Requested;
    }

    /// <summary>"Keep running" on the idle warning: the idle clock starts again.</summary>
    public async Task<bool> KeepRunningAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var server = await db.Servers.SingleOrDefaultAsync(s => s.Username == username, cancellationToken);
        if (server is not { Observed: ServerState.Running })
        {
            return false;
        }
        server.KeepRunning(clock.GetUtcNow());
        await db.SaveChangesAsync(cancellationToken);
        await changes.PublishAsync(username.Value, cancellationToken);
        return true;
    }

    /// <summary>Warns the owners of servers idle for nearly the limit, and stops those idle past it. Returns how many it stopped.</summary>
    public async Task<int> CullIdleAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var stopBefore = now - options.Value.IdleTimeout;
        var warnBefore = stopBefore + options.Value.IdleWarning;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var idle = await db.Servers.Where(s => s.Observed == ServerState.Running && s.LastActivityAt < warnBefore).ToListAsync(cancellationToken);
        var stopped = 0;
        foreach (var server in idle)
        {
            if (server.LastActivityAt < stopBefore)
            {
                await StopAsync(server.Username, AuditEvent.System, null, cancellationToken);
                stopped++;
            }
            else if (server.IdleWarnedAt is null)
            {
                server.WarnIdle(now);
                await db.SaveChangesAsync(cancellationToken);
                await changes.PublishAsync(server.Username.Value, cancellationToken);
            }
        }
        return stopped;
    }

    /// <summary>Read from the database on every start (not the banner's cache): the switch takes effect at once.</summary>
    private async Task<bool> InMaintenanceAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.MaintenanceModes.AnyAsync(m => m.Id == Domain.Announcements.MaintenanceMode.SingletonId && m.Enabled, cancellationToken);
    }

    private static bool IsRace(DbUpdateException e) =>
        e is DbUpdateConcurrencyException
        || e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.SerializationFailure };
}
