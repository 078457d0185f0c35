using System.Collections.Concurrent;
using System.Text.Json;

namespace Portal.Infrastructure.Servers.LocalProcess;

/// <summary>What the backend remembers of one user's server, in <c>&lt;StateDirectory&gt;/&lt;username&gt;.json</c> (mode 0600).</summary>
internal sealed record LocalServerState(
    string Username,
    Guid ServerId,
    int Pid,
    int Port,
    string Token,
    DateTimeOffset StartedAt,
    ulong ProcessStartTicks,
    string? CudaToolkit,
    IReadOnlyList<int> GpuIndexes);

/// <summary>
/// The files of the state directory and the locks over them. Every lock is taken twice: a semaphore per path for this
/// process, then an exclusive lock on a file (flock) for other processes on the machine that share the directory.
/// </summary>
internal sealed class LocalServerStore
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(60);

    public LocalServerStore(string directory)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory, OwnerOnlyDirectory);
    }

    public string Directory { get; }

    public string StatePath(string username) => Path.Combine(Directory, username + ".json");

    public string TokenPath(string username) => Path.Combine(Directory, username + ".token");

    public string LogPath(string username) => Path.Combine(Directory, username + ".log");

    /// <summary>Jupyter's runtime files (cookie secret, server info) of one user.</summary>
    public string RuntimeDirectory(string username)
    {
        var path = Path.Combine(Directory, "runtime", username);
        System.IO.Directory.CreateDirectory(path, OwnerOnlyDirectory);
        return path;
    }

    /// <summary>Serialises start and stop of one user's server.</summary>
    public Task<IAsyncDisposable> LockUserAsync(string username, CancellationToken cancellationToken) =>
        LockAsync(Path.Combine(Directory, username + ".lock"), cancellationToken);

    /// <summary>Serialises port allocation over all users (a username never starts with a dot).</summary>
    public Task<IAsyncDisposable> LockPortsAsync(CancellationToken cancellationToken) =>
        LockAsync(Path.Combine(Directory, ".ports.lock"), cancellationToken);

    public LocalServerState? Read(string username) => ReadFile(StatePath(username));

    /// <summary>Every state file there is (a damaged one is skipped).</summary>
    public IEnumerable<LocalServerState> ReadAll() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.json").Select(ReadFile).OfType<LocalServerState>();

    /// <summary>Writes the state file by rename, so a reader sees the old file or the new one, never half of one.</summary>
    public void Write(LocalServerState state) => WriteAtomically(StatePath(state.Username), JsonSerializer.Serialize(state, Json));

    public void WriteToken(string username, string token) => WriteAtomically(TokenPath(username), token);

    /// <summary>Creates the log file empty (mode 0600), or empties it, before a server starts writing to it.</summary>
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

    /// <summary>The last lines of a user's server log, with the token blanked out.</summary>
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

    /// <summary>Forgets a user's server: its state and token files (the log stays for diagnosis until the next start).</summary>
    public void Remove(string username)
    {
        File.Delete(StatePath(username));
        File.Delete(TokenPath(username));
    }

    private static LocalServerState? ReadFile(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<LocalServerState>(File.ReadAllText(path), Json);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private static void WriteAtomically(string path, string content)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = OwnerOnlyFile,
            }))
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes(content);
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static async Task<IAsyncDisposable> LockAsync(string path, CancellationToken cancellationToken)
    {
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
