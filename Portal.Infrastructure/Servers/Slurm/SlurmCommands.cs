using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Portal.Infrastructure.Servers.Slurm;

/// <summary>What one Slurm tool printed, and how it ended.</summary>
internal sealed record SlurmCommandResult(int ExitCode, string Output, string Error)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The first line of what it said on stderr (else stdout), for messages.</summary>
    public string Message
    {
        get
        {
            var text = Error.Trim().Length > 0 ? Error : Output;
            var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
            return line.Length > 500 ? line[..500] : line;
        }
    }
}

/// <summary>
/// Runs Slurm's command-line tools: arguments as a list (never through a shell), a clean environment (only
/// <c>PATH</c>, <c>LANG</c>, <c>SLURM_CONF</c> and the time format: nothing of the portal's own environment reaches a
/// job through <c>sbatch --export=ALL</c>), a time limit.
/// </summary>
internal sealed class SlurmCommands(SlurmOptions options)
{
    private const string StandardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public async Task<SlurmCommandResult> RunAsync(string tool, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var path = Path.Combine(options.CommandDirectory, tool);
        var start = new ProcessStartInfo(path)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment.Clear();
        start.Environment["PATH"] = StandardPath;
        start.Environment["LANG"] = "C.UTF-8";
        // ISO 8601 times (2026-11-22T04:48:27) in every tool's output, whatever the site's default.
        start.Environment["SLURM_TIME_FORMAT"] = "standard";
        if (options.ConfPath is { Length: > 0 } conf)
        {
            start.Environment["SLURM_CONF"] = conf;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new SlurmException($"{tool} did not start.");
        }
        catch (Win32Exception e)
        {
            throw new SlurmException($"Cannot run {path}: {e.Message}", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(options.CommandTimeoutSeconds));
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Exited meanwhile.
                }
                cancellationToken.ThrowIfCancellationRequested();
                throw new SlurmException(
                    $"{tool} did not answer within {options.CommandTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s.");
            }
            return new SlurmCommandResult(process.ExitCode, await output, await error);
        }
    }
}
