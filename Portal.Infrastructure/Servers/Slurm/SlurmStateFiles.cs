using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

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
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyExecutable = OwnerOnlyFile | UnixFileMode.UserExecute;

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(60);

    public SlurmStateFiles(string directory)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory, OwnerOnlyExecutable);
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
        System.IO.Directory.CreateDirectory(path, OwnerOnlyExecutable);
        return path;
    }

    /// <summary>Serialises start and stop of one user's server.</summary>
    public async Task<IAsyncDisposable> LockUserAsync(string username, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Directory, username + ".lock");
        var gate = Gates.GetOrAdd(path, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            var deadline = DateTime.UtcNow + LockTimeout;
            while (true)
            {
                try
                {
                    // On Unix FileShare.None takes flock(LOCK_EX | LOCK_NB): another process holding it makes this throw.
                    var stream = new FileStream(path, new FileStreamOptions
                    {
                        Mode = FileMode.OpenOrCreate,
                        Access = FileAccess.ReadWrite,
                        Share = FileShare.None,
                        UnixCreateMode = OwnerOnlyFile,
                    });
                    return new HeldLock(gate, stream);
                }
                catch (IOException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(LockRetry, cancellationToken);
                }
            }
        }
        catch
        {
            gate.Release();
            throw;
        }
    }

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

    public void WriteToken(string username, string token) => WriteAtomically(TokenPath(username), token, OwnerOnlyFile);

    public void WriteScript(string username, string script) => WriteAtomically(ScriptPath(username), script, OwnerOnlyExecutable);

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
    public string ResetLog(string username)
    {
        var path = LogPath(username);
        using (new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = OwnerOnlyFile,
        }))
        {
        }
        return path;
    }

    /// <summary>The last lines of a user's job log, with the token blanked out.</summary>
    public string LogTail(string username, string? token, int lines = 10)
    {
        string[] all;
        try
        {
            all = File.ReadAllLines(LogPath(username));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
        var tail = string.Join('\n', all.Where(l => l.Length > 0).TakeLast(lines));
        if (!string.IsNullOrEmpty(token))
        {
            tail = tail.Replace(token, "…", StringComparison.Ordinal);
        }
        return tail.Length > 2000 ? tail[^2000..] : tail;
    }

    /// <summary>Forgets a stopped server: its token and endpoint (the script and the log stay for diagnosis).</summary>
    public void Forget(string username)
    {
        File.Delete(TokenPath(username));
        File.Delete(EndpointPath(username));
    }

    private static void WriteAtomically(string path, string content, UnixFileMode mode)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = mode,
            }))
            {
                stream.Write(Encoding.UTF8.GetBytes(content));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private sealed class HeldLock(SemaphoreSlim gate, FileStream stream) : IAsyncDisposable
    {
        private int _released;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                await stream.DisposeAsync();
                gate.Release();
            }
        }
    }
}
