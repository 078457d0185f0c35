using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Servers.LocalProcess;

namespace Portal.Infrastructure.Usage;

/// <summary>The latest measurement of a user's home folder.</summary>
public sealed record StorageUse(long Bytes, DateTimeOffset SampledAt);

/// <summary>
/// Measures the home folder of every account that has one (<c>&lt;LocalProcess:HomeRoot&gt;/&lt;username&gt;</c>) and
/// stores a <see cref="StorageSample"/>. Bytes are the files' apparent sizes; symbolic links are never followed (a
/// link counts nothing, so a link to <c>/</c> cannot make a walk endless or charge a user for others' files).
/// </summary>
public sealed partial class StorageSampler(
    IDbContextFactory<PortalDbContext> contexts,
    IOptions<LocalProcessOptions> homes,
    IOptions<UsageOptions> options,
    TimeProvider clock,
    ILogger<StorageSampler> logger)
{
    /// <summary>Samples every account's home folder that exists; returns how many samples were stored.</summary>
    public async Task<int> SampleAllAsync(CancellationToken cancellationToken)
    {
        List<string> usernames;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            usernames = await db.Accounts.AsNoTracking().OrderBy(a => a.Username).Select(a => a.Username.Value).ToListAsync(cancellationToken);
        }
        var root = Path.GetFullPath(homes.Value.HomeRoot);
        var stored = 0;
        foreach (var username in usernames)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var home = new DirectoryInfo(Path.Combine(root, username));
            if (!home.Exists || home.LinkTarget is not null)
            {
                continue;
            }
            var measured = await Task.Run(() => Measure(home.FullName, options.Value.StorageWalkTimeout, cancellationToken), cancellationToken);
            if (measured is not { } bytes)
            {
                LogWalkTimedOut(logger, username, options.Value.StorageWalkTimeout);
                continue;
            }
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            db.StorageSamples.Add(new StorageSample { Username = username, SampledAt = clock.GetUtcNow(), Bytes = bytes });
            await db.SaveChangesAsync(cancellationToken);
            stored++;
        }
        return stored;
    }

    /// <summary>The user's latest sample, or null when the folder was never measured.</summary>
    public async Task<StorageUse?> LatestAsync(string username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.StorageSamples.AsNoTracking().Where(s => s.Username == username)
            .OrderByDescending(s => s.SampledAt).ThenByDescending(s => s.Id)
            .Select(s => new StorageUse(s.Bytes, s.SampledAt)).FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>
    /// Sum of the sizes of the regular files under <paramref name="directory"/>, not following symbolic links (to files
    /// or folders), or null when the walk did not finish within <paramref name="limit"/>. Unreadable folders are skipped.
    /// </summary>
    public static long? Measure(string directory, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        long total = 0;
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(directory));
        while (pending.TryPop(out var current))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (deadline.Elapsed > limit)
            {
                return null;
            }
            IEnumerable<FileSystemInfo> entries;
            try
            {
                // The SearchOption overload enumerates like the classic API: hidden (dot) entries included, one folder
                // at a time; an unreadable folder throws and is passed over below.
                entries = current.EnumerateFileSystemInfos("*", SearchOption.TopDirectoryOnly);
                foreach (var entry in entries)
                {
                    // A symbolic link (to a file or a folder) is neither followed nor counted.
                    if (entry.LinkTarget is not null)
                    {
                        continue;
                    }
                    switch (entry)
                    {
                        case DirectoryInfo sub:
                            pending.Push(sub);
                            break;
                        case FileInfo file:
                            total += file.Length;
                            break;
                        default:
                            break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone or unreadable meanwhile: what it held cannot be counted.
            }
        }
        return total;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Measuring the home folder of {Username} took longer than {Limit}; no sample stored")]
    private static partial void LogWalkTimedOut(ILogger logger, string username, TimeSpan limit);
}
