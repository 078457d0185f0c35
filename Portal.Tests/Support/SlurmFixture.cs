using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Portal.Tests.Support;

/// <summary>
/// The test Slurm cluster (<c>scripts/lib/slurm.sh</c>: one node <c>localhost</c> with 2+ CPUs, this machine's memory
/// and four stand-in GPUs, started with the other <c>test</c> services): its settings, its tools for what a test
/// checks behind the backend's back, and at the end the cancellation of every job of the users and blockers it
/// handed out.
/// </summary>
public sealed class SlurmFixture : IAsyncLifetime
{
    // One node with four GPUs is shared by every test class that runs jobs (this one, the toolkit switch, the browser
    // test on Slurm), and those classes run in parallel. Tests that count queue positions or hold every GPU assume the
    // node is theirs, so each test that submits jobs holds the node for its whole run.
    private static readonly SemaphoreSlim NodeGate = new(1, 1);

    private readonly ConcurrentBag<string> _jobNames = [];
    private readonly ConcurrentBag<string> _blockerNames = [];

    /// <summary>The node for this test alone until the returned lease is disposed.</summary>
    public static async Task<IAsyncDisposable> HoldNodeAsync()
    {
        if (!await NodeGate.WaitAsync(TimeSpan.FromMinutes(5)))
        {
            throw new TimeoutException("The Slurm node stayed held by another test for 5 minutes.");
        }
        return new NodeLease();
    }

    private sealed class NodeLease : IAsyncDisposable
    {
        private int _released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                NodeGate.Release();
            }
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The cluster's slurm.conf (<c>SLURM_CONF</c> of the tools).</summary>
    public static string ConfPath => TestEnvironment.Current["Slurm__ConfPath"];

    /// <summary>The ports the jobs' Jupyter servers take.</summary>
    public static int PortRangeStart => int.Parse(TestEnvironment.Current["Slurm__PortRangeStart"], CultureInfo.InvariantCulture);

    public static int PortRangeEnd => int.Parse(TestEnvironment.Current["Slurm__PortRangeEnd"], CultureInfo.InvariantCulture);

    public Task InitializeAsync() => Task.Run(() => _ = TestEnvironment.Current);

    public async Task DisposeAsync()
    {
        var names = _jobNames.Distinct().ToList();
        if (names.Count == 0)
        {
            return;
        }
        var jobs = await LiveJobsAsync(string.Join(',', names));
        if (jobs.Count > 0)
        {
            await TryRunAsync("scancel", [.. jobs]);
        }
    }

    /// <summary>Cancels the blockers still queued or running, so that a failed test does not hold every GPU after it.</summary>
    public async Task CancelBlockersAsync()
    {
        var names = _blockerNames.Distinct().ToList();
        var jobs = names.Count == 0 ? [] : await LiveJobsAsync(string.Join(',', names));
        if (jobs.Count > 0)
        {
            await TryRunAsync("scancel", [.. jobs]);
        }
    }

    /// <summary>A username no other test uses; every job named after it is cancelled when the class ends.</summary>
    public string NewUser()
    {
        var user = LdapTestUsers.UniqueUsername("slm");
        _jobNames.Add("portal-" + user);
        return user;
    }

    /// <summary>
    /// A job that holds all four GPUs of the node (so the next GPU job waits with reason <c>Resources</c>) once it runs;
    /// returns its id.
    /// </summary>
    public async Task<string> SubmitGpuBlockerAsync()
    {
        var name = "slm-blocker-" + Guid.NewGuid().ToString("N")[..8];
        _jobNames.Add(name);
        _blockerNames.Add(name);
        var output = await RunAsync("sbatch", "--parsable", $"--job-name={name}", "--gres=gpu:4", "--cpus-per-task=1", "--mem=64M",
            "--time=5", "--output=/dev/null", "--wrap=exec sleep 300");
        return output.Trim().Split(';')[0];
    }

    /// <summary>The job's fields as <c>scontrol -o show job</c> prints them (values without spaces only).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ShowJobAsync(string jobId)
    {
        var line = await RunAsync("scontrol", "-o", "show", "job", jobId);
        return line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(field => field.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .GroupBy(pair => pair[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First()[1], StringComparer.Ordinal);
    }

    /// <summary>Ids of the jobs named <paramref name="name"/> (or any of a comma-separated list) that are not over.</summary>
    public static async Task<IReadOnlyList<string>> LiveJobsAsync(string name)
    {
        var output = await RunAsync("squeue", "-h", $"--name={name}", "-t", "PENDING,CONFIGURING,RUNNING,SUSPENDED,COMPLETING", "-o", "%i");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>The job's state as squeue shows it (also for ended jobs Slurm still knows), or "" when unknown.</summary>
    public static async Task<string> JobStateAsync(string jobId)
    {
        var (exitCode, output, _) = await TryRunAsync("squeue", "-h", "-t", "all", "-j", jobId, "-o", "%T");
        return exitCode == 0 ? output.Trim() : "";
    }

    /// <summary>Runs a Slurm tool against the test cluster; fails the test when it fails.</summary>
    public static async Task<string> RunAsync(string tool, params string[] arguments)
    {
        var (exitCode, output, error) = await TryRunAsync(tool, arguments);
        Assert.True(exitCode == 0, $"{tool} {string.Join(' ', arguments)} failed ({exitCode}): {error}");
        return output;
    }

    private static async Task<(int ExitCode, string Output, string Error)> TryRunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine("/usr/bin", tool))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["SLURM_CONF"] = ConfPath;
        start.Environment["SLURM_TIME_FORMAT"] = "standard";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not run {tool}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await error);
    }
}
