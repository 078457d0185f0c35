using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Servers.LocalProcess;

namespace Portal.Tests.Support;

/// <summary>
/// The server services wired to one test database and a real local-process backend (its own folders and ports), as
/// the portal wires them; the job trigger records requests and <see cref="SettleAsync"/> runs the job's logic.
/// </summary>
public sealed class ServerServices : IDisposable
{
    private readonly Func<ISpawnerBackend>? _backendFactory;

    // backendFactory: another backend than local processes (a JupyterHub one); called again on Restart().
    public ServerServices(TestDatabase database, IReadOnlyList<GpuDevice>? gpus = null, string? jupyterCommand = null,
        TimeProvider? clock = null, string? root = null, int? portStart = null, Func<ISpawnerBackend>? backendFactory = null)
    {
        _backendFactory = backendFactory;
        Database = database;
        Clock = clock ?? TimeProvider.System;
        Root = root ?? Directory.CreateTempSubdirectory("portal-servers-").FullName;
        PortStart = portStart ?? TestPorts.Block();
        Options = Microsoft.Extensions.Options.Options.Create(new ServerOptions
        {
            Backend = backendFactory?.Invoke().Name ?? "local",
            Gpus = [.. gpus ?? [new GpuDevice(0, "GPU-test-0", "Test GPU", 16384, "550.90.07"), new GpuDevice(1, "GPU-test-1", "Test GPU", 16384, "550.90.07")]],
            DiscoverGpus = false,
            IdleTimeout = TimeSpan.FromHours(2),
            IdleWarning = TimeSpan.FromMinutes(10),
        });
        Backend = backendFactory?.Invoke() ?? NewBackend(jupyterCommand);
        Changes = new ServerChanges(database.DataSource, NullLogger<ServerChanges>.Instance);
        Gpus = new GpuInventory(Options, NullLogger<GpuInventory>.Instance);
        Quotas = new QuotaService(database.ContextFactory(), Gpus);
        Catalog = new CudaCatalog(database.ContextFactory(), Gpus);
        Servers = new ServerService(database.ContextFactory(), Quotas, Gpus, Catalog, Jobs, Changes, Options, Clock);
        Reconciler = NewReconciler(Backend);
    }

    public TestDatabase Database { get; }
    public TimeProvider Clock { get; }
    public string Root { get; }
    public int PortStart { get; }
    public IOptions<ServerOptions> Options { get; }
    public ISpawnerBackend Backend { get; private set; }
    public ServerChanges Changes { get; }
    public GpuInventory Gpus { get; }
    public QuotaService Quotas { get; }
    public CudaCatalog Catalog { get; }
    public ServerService Servers { get; }
    public ServerReconciler Reconciler { get; private set; }
    public RecordingJobTrigger Jobs { get; } = new();

    /// <summary>A fresh backend and reconciler over the same folders: what a restarted portal has.</summary>
    public void Restart()
    {
        (Backend as IDisposable)?.Dispose();
        Backend = _backendFactory?.Invoke() ?? NewBackend(null);
        Reconciler = NewReconciler(Backend);
    }

    public LocalProcessBackend NewBackend(string? jupyterCommand) => new(Microsoft.Extensions.Options.Options.Create(new LocalProcessOptions
    {
        PortRangeStart = PortStart,
        PortRangeEnd = PortStart + TestPorts.BlockSize - 1,
        HomeRoot = Path.Combine(Root, "homes"),
        StateDirectory = Path.Combine(Root, "state"),
        JupyterCommand = jupyterCommand ?? "/usr/bin/jupyter-notebook",
        StartTimeoutSeconds = 60,
    }), Clock, NullLogger<LocalProcessBackend>.Instance);

    private ServerReconciler NewReconciler(ISpawnerBackend backend) =>
        new(Database.ContextFactory(), [backend], Gpus, Quotas, Catalog, Changes, Clock, NullLogger<ServerReconciler>.Instance);

    /// <summary>Runs the server's job until it has nothing more to do, honouring the delays it asks for (bounded).</summary>
    public async Task SettleAsync(Guid serverId, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(90));
        while (await Reconciler.ReconcileAsync(serverId, CancellationToken.None) is { } again)
        {
            if (DateTime.UtcNow > deadline)
            {
                await using var db = Database.CreateDbContext();
                var server = await db.Servers.AsNoTracking().SingleAsync(s => s.Id == serverId);
                throw new TimeoutException($"Server {serverId} did not settle. {ServerAssert.Describe(server)}");
            }
            await Task.Delay(again);
        }
    }

    public void Dispose()
    {
        (Backend as IDisposable)?.Dispose();
        // Whatever a test left running is stopped by the test itself; the folders go here.
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A process that just exited may still hold a file; the temp folder is cleaned by the OS later.
        }
    }
}
