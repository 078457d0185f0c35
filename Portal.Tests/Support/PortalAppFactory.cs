using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Tests.Support;

/// <summary>
/// The real portal (its Program) on a fresh database and the test slapd. In-process by default; with
/// <c>kestrel: true</c> it listens on a loopback port so a browser can reach it.
/// </summary>
public class PortalAppFactory(bool kestrel, IReadOnlyDictionary<string, string?>? overrides)
    : WebApplicationFactory<Program>, IAsyncLifetime
{
    private readonly TestDatabase _database = new();
    private readonly string _root = Directory.CreateTempSubdirectory("portal-app-").FullName;
    private readonly int _portStart = TestPorts.Block();

    /// <summary>Hangfire workers of a test host, unless the class asks for other.</summary>
    public const int TestHostWorkers = 4;

    public TestDatabase Database => _database;

    /// <summary>Where the Kestrel server listens, e.g. http://127.0.0.1:41234.</summary>
    public Uri ServerAddress { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();
        if (kestrel)
        {
            UseKestrel(0);
            StartServer();
            var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            ServerAddress = new Uri(addresses.First());
            // The portal migrated its database at start; give it uidNumbers no earlier run left in the test slapd.
            await OnboardingServices.UseOwnUidBlockAsync(_database);
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("urls", "http://127.0.0.1:0");
        foreach (var (key, value) in TestEnvironment.Current.PortalSettings(_database.ConnectionString))
        {
            builder.UseSetting(key, value);
        }
        builder.UseSetting("Database:MigrationsDirectory", TestDatabase.MigrationsDirectory);
        // Users' Jupyter servers: local processes in folders and ports of this instance's own, and a configured GPU
        // list (this machine has no GPU; the default plan asks for one).
        builder.UseSetting("LocalProcess:HomeRoot", Path.Combine(_root, "homes"));
        builder.UseSetting("LocalProcess:StateDirectory", Path.Combine(_root, "state"));
        builder.UseSetting("LocalProcess:PortRangeStart", _portStart.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("LocalProcess:PortRangeEnd", (_portStart + TestPorts.BlockSize - 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Servers:DiscoverGpus", "false");
        // A test host shares two cores with the other classes' hosts and the browser: a few Hangfire workers each (each
        // is a thread with its own connections) instead of the production 20. JobEngineTests runs the default.
        builder.UseSetting("Jobs:MaxConcurrency", TestHostWorkers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        for (var i = 0; i < 4; i++)
        {
            builder.UseSetting($"Servers:Gpus:{i}:Index", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            builder.UseSetting($"Servers:Gpus:{i}:Uuid", $"GPU-test-{i}");
            builder.UseSetting($"Servers:Gpus:{i}:Model", "Test GPU");
            builder.UseSetting($"Servers:Gpus:{i}:MemoryMiB", "16384");
            builder.UseSetting($"Servers:Gpus:{i}:DriverVersion", "550.90.07");
        }
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            builder.UseSetting(key, value);
        }
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await base.DisposeAsync();
        await _database.DisposeAsync();
    }
}

/// <summary>The portal on a real loopback port whose servers run as Slurm jobs on the test cluster.</summary>
public sealed class SlurmKestrelPortal() : PortalAppFactory(kestrel: true, overrides: new Dictionary<string, string?>
{
    ["Servers:Backend"] = "slurm",
    ["Slurm:ConfPath"] = TestEnvironment.Current["Slurm__ConfPath"],
    ["Slurm:PortRangeStart"] = TestEnvironment.Current["Slurm__PortRangeStart"],
    ["Slurm:PortRangeEnd"] = TestEnvironment.Current["Slurm__PortRangeEnd"],
    ["Slurm:StateDirectory"] = Directory.CreateTempSubdirectory("portal-slurm-state-").FullName,
    ["Slurm:HomeRoot"] = Directory.CreateTempSubdirectory("portal-slurm-homes-").FullName,
});

/// <summary>The portal in-process (TestServer), shared by the tests of one class.</summary>
public sealed class InProcessPortal() : PortalAppFactory(kestrel: false, overrides: null);

/// <summary>
/// The portal in-process with the production worker count (<c>Jobs:MaxConcurrency</c> left at its default), for the
/// classes that load the job engine; they run in <see cref="LoadCollection"/>.
/// </summary>
public sealed class InProcessPortalAtDefaultConcurrency() : PortalAppFactory(kestrel: false, overrides: new Dictionary<string, string?>
{
    ["Jobs:MaxConcurrency"] = new Portal.Infrastructure.Jobs.JobOptions().MaxConcurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
});

/// <summary>
/// The classes that load the machine on purpose (hundreds of approvals at once, two more portal processes). They run
/// alone, after the parallel classes, so that their load does not eat the time other classes' browser steps have.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadCollection
{
    public const string Name = "Load";
}

/// <summary>The portal on a real loopback port, shared by the browser tests of one class.</summary>
public sealed class KestrelPortal() : PortalAppFactory(kestrel: true, overrides: null);
