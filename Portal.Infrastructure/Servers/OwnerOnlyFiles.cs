using System.Collections.Concurrent;
using System.Text;

namespace Portal.Infrastructure.Servers;

/// <summary>
/// The file handling the process-based backends (local processes, Slurm) share: files only their owner can read,
/// written by rename, log tails with the token blanked, and locks taken twice — a semaphore per path for this process,
/// then an exclusive flock for other portal processes that share the folder.
/// </summary>
internal static class OwnerOnlyFiles
{
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode Executable = File | UnixFileMode.UserExecute;
    public const UnixFileMode Directory = File | UnixFileMode.UserExecute;

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Writes by rename, so a reader sees the old file or the new one, never half of one.</summary>
    public static void WriteAtomically(string path, string content, UnixFileMode mode = File)
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
            System.IO.File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            System.IO.File.Delete(temporary);
        }
    }

    /// <summary>Creates the file empty (mode 0600), or empties it, before a server starts appending to it.</summary>
    public static string ResetEmpty(string path)
    {
        using (new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = File }))
        {
        }
        return path;
    }

    /// <summary>The last non-empty lines of a log, with <paramref name="token"/> blanked out; empty when unreadable.</summary>
    public static string Tail(string path, string? token, int lines)
    {
        string[] all;
        try
        {
            all = System.IO.File.ReadAllLines(path);
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

    public static async Task<IAsyncDisposable> LockAsync(string path, CancellationToken cancellationToken)
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
                        UnixCreateMode = File,
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
