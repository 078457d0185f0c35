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
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public LocalServerStore(string directory)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory, OwnerOnlyFiles.Directory);
    }

    public string Directory { get; }

    public string StatePath(string username) => Path.Combine(Directory, username + ".json");

    public string TokenPath(string username) => Path.Combine(Directory, username + ".token");

    public string LogPath(string username) => Path.Combine(Directory, username + ".log");

    /// <summary>Jupyter's runtime files (cookie secret, server info) of one user.</summary>
    public string RuntimeDirectory(string username)
    {
        var path = Path.Combine(Directory, "runtime", username);
        System.IO.Directory.CreateDirectory(path, OwnerOnlyFiles.Directory);
        return path;
    }

    /// <summary>Serialises start and stop of one user's server.</summary>
    public Task<IAsyncDisposable> LockUserAsync(string username, CancellationToken cancellationToken) =>
        OwnerOnlyFiles.LockAsync(Path.Combine(Directory, username + ".lock"), cancellationToken);

    /// <summary>Serialises port allocation over all users (a username never starts with a dot).</summary>
    public Task<IAsyncDisposable> LockPortsAsync(CancellationToken cancellationToken) =>
        OwnerOnlyFiles.LockAsync(Path.Combine(Directory, ".ports.lock"), cancellationToken);

    public LocalServerState? Read(string username) => ReadFile(StatePath(username));

    /// <summary>Every state file there is (a damaged one is skipped).</summary>
    public IEnumerable<LocalServerState> ReadAll() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.json").Select(ReadFile).OfType<LocalServerState>();

    /// <summary>Writes the state file by rename, so a reader sees the old file or the new one, never half of one.</summary>
    public void Write(LocalServerState state) => OwnerOnlyFiles.WriteAtomically(StatePath(state.Username), JsonSerializer.Serialize(state, Json));

    public void WriteToken(string username, string token) => OwnerOnlyFiles.WriteAtomically(TokenPath(username), token);

    /// <summary>Creates the log file empty (mode 0600), or empties it, before a server starts writing to it.</summary>
    public string ResetLog(string username) => OwnerOnlyFiles.ResetEmpty(LogPath(username));

    /// <summary>The last lines of a user's server log, with the token blanked out.</summary>
    public string LogTail(string username, string? token, int lines = 10) => OwnerOnlyFiles.Tail(LogPath(username), token, lines);

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
}
