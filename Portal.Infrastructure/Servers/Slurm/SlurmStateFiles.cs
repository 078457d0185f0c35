using System.Globalization;

namespace Portal.Infrastructure.Servers.Slurm;

/// <summary>Where a job's Jupyter listens, as the job wrote it into <c>&lt;username&gt;.endpoint</c> on its node.</summary>
internal sealed record SlurmEndpoint(string JobId, string Host, int Port, int Pid);

/// <summary>
/// The files of the backend's state directory (shared with the compute nodes) and the per-user lock over them. The
/// lock is taken twice: a semaphore per path for this process, then an exclusive flock for other portals on the
/// machine that share the directory.
/// </summary>
internal sealed class SlurmStateFiles
{


    public SlurmStateFiles(string directory)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory, OwnerOnlyFiles.Executable);
    }

    public string Directory { get; }

    public string TokenPath(string username) => Path.Combine(Directory, username + ".token");

    public string ScriptPath(string username) => Path.Combine(Directory, username + ".sbatch");

    public string LogPath(string username) => Path.Combine(Directory, username + ".log");

    public string EndpointPath(string username) => Path.Combine(Directory, username + ".endpoint");

    /// <summary>Jupyter's runtime files (cookie secret, server info) of one user.</summary>
    public string RuntimeDirectory(string username)
    {
        var path = Path.Combine(Directory, "runtime", username);
        System.IO.Directory.CreateDirectory(path, OwnerOnlyFiles.Executable);
        return path;
    }

    /// <summary>Serialises start and stop of one user's server.</summary>
    public Task<IAsyncDisposable> LockUserAsync(string username, CancellationToken cancellationToken) =>
        OwnerOnlyFiles.LockAsync(Path.Combine(Directory, username + ".lock"), cancellationToken);

    public string? ReadToken(string username)
    {
        try
        {
            var token = File.ReadAllText(TokenPath(username)).Trim();
            return token.Length > 0 ? token : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void WriteToken(string username, string token) => OwnerOnlyFiles.WriteAtomically(TokenPath(username), token, OwnerOnlyFiles.File);

    public void WriteScript(string username, string script) => OwnerOnlyFiles.WriteAtomically(ScriptPath(username), script, OwnerOnlyFiles.Executable);

    /// <summary>The endpoint the job <paramref name="jobId"/> wrote; null when there is none yet or it is another job's.</summary>
    public SlurmEndpoint? ReadEndpoint(string username, string jobId)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(EndpointPath(username));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var values = lines.Select(l => l.Split('=', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First()[1].Trim(), StringComparer.Ordinal);
        return values.GetValueOrDefault("job") == jobId
            && values.GetValueOrDefault("host") is { Length: > 0 } host
            && int.TryParse(values.GetValueOrDefault("port"), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            && int.TryParse(values.GetValueOrDefault("pid"), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            ? new SlurmEndpoint(jobId, host, port, pid)
            : null;
    }

    /// <summary>Creates the job's log empty (mode 0600; the job appends to it), so Jupyter's output is never world-readable.</summary>
    public string ResetLog(string username) => OwnerOnlyFiles.ResetEmpty(LogPath(username));

    /// <summary>The last lines of a user's job log, with the token blanked out.</summary>
    public string LogTail(string username, string? token, int lines = 10) => OwnerOnlyFiles.Tail(LogPath(username), token, lines);

    /// <summary>Forgets a stopped server: its token and endpoint (the script and the log stay for diagnosis).</summary>
    public void Forget(string username)
    {
        File.Delete(TokenPath(username));
        File.Delete(EndpointPath(username));
    }
}
