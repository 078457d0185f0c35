using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Infrastructure.Servers.LocalProcess;
using Portal.Infrastructure.Usage;
using Portal.Tests.Support;

namespace Portal.Tests.Usage;

/// <summary>The storage sampler against real folders: files of known sizes, and symbolic links it must not follow.</summary>
public sealed class StorageSamplerTests : MigratedDatabaseTest, IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("portal-usage-");

    public void Dispose() => _root.Delete(recursive: true);

    private StorageSampler Sampler(TimeProvider clock) => new(Database.ContextFactory(),
        Options.Create(new LocalProcessOptions { HomeRoot = Path.Combine(_root.FullName, "homes") }),
        Options.Create(new UsageOptions()), clock, NullLogger<StorageSampler>.Instance);

    private static void WriteFile(string path, int bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[bytes]);
    }

    [Fact]
    public void Measure_HiddenFilesAndFolders_Counted()
    {
        // Dot-files are most of a Jupyter home's weight (.cache, .local, .ipynb_checkpoints).
        var home = Path.Combine(_root.FullName, "dotted");
        WriteFile(Path.Combine(home, ".bashrc"), 100);
        WriteFile(Path.Combine(home, ".cache", "pip", "wheel.whl"), 4000);
        WriteFile(Path.Combine(home, "visible.txt"), 7);

        Assert.Equal(4107, StorageSampler.Measure(home, TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    [Fact]
    public async Task SampleAll_HomeWithFilesAndSymlinks_CountsOnlyRegularFilesInside()
    {
        var rows = new UsageRows(Database);
        await rows.AccountAsync("alice", null);
        await rows.AccountAsync("bob", null); // no home folder: no sample
        var home = Path.Combine(_root.FullName, "homes", "alice");
        WriteFile(Path.Combine(home, "notebook.ipynb"), 1000);
        WriteFile(Path.Combine(home, "data", "deep", "weights.bin"), 2345);
        Directory.CreateDirectory(Path.Combine(home, "empty"));
        // Outside the home: 50,000 bytes that links inside must not bring in.
        WriteFile(Path.Combine(_root.FullName, "elsewhere", "big.bin"), 50_000);
        File.CreateSymbolicLink(Path.Combine(home, "big-link.bin"), Path.Combine(_root.FullName, "elsewhere", "big.bin"));
        Directory.CreateSymbolicLink(Path.Combine(home, "elsewhere-link"), Path.Combine(_root.FullName, "elsewhere"));
        // A loop: a link to the home itself.
        Directory.CreateSymbolicLink(Path.Combine(home, "data", "loop"), home);
        var clock = new ManualClock(UsageRows.At("2026-03-10T12:00:00Z"));
        var sampler = Sampler(clock);

        Assert.Null(await sampler.LatestAsync("alice", CancellationToken.None));
        var stored = await sampler.SampleAllAsync(CancellationToken.None);

        Assert.Equal(1, stored);
        Assert.Equal(new StorageUse(3345, UsageRows.At("2026-03-10T12:00:00Z")), await sampler.LatestAsync("alice", CancellationToken.None));
        Assert.Null(await sampler.LatestAsync("bob", CancellationToken.None));

        // A later sample is the latest.
        WriteFile(Path.Combine(home, "more.bin"), 655);
        clock.Advance(TimeSpan.FromHours(1));
        await sampler.SampleAllAsync(CancellationToken.None);
        Assert.Equal(new StorageUse(4000, UsageRows.At("2026-03-10T13:00:00Z")), await sampler.LatestAsync("alice", CancellationToken.None));
    }

    [Fact]
    public void Measure_NoTimeLeft_NoFigure()
    {
        WriteFile(Path.Combine(_root.FullName, "a", "b.bin"), 10);
        Assert.Null(StorageSampler.Measure(_root.FullName, TimeSpan.FromTicks(-1), CancellationToken.None));
        Assert.Equal(10, StorageSampler.Measure(_root.FullName, TimeSpan.FromMinutes(1), CancellationToken.None));
    }
}
