using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Jobs;

/// <summary>The job engine's settings (configuration section <c>Jobs</c>); README.md, "Configuration", lists them.</summary>
public sealed class JobOptions
{
    public const string Section = "Jobs";

    /// <summary>Hangfire workers per node: jobs running at once on it (server jobs mostly wait on a backend).</summary>
    [Range(1, 100)]
    public int MaxConcurrency { get; set; } = 20;

    /// <summary>
    /// How long a job of a node that died stays invisible before another node takes it over. The running node renews
    /// it every fifth of this (sliding), so a live job that runs longer is never taken over.
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How often an idle worker looks at the queue when no notification came: NOTIFY wakes it at once after an
    /// enqueue; this is the fallback (a job taken over from a dead node sends none).
    /// </summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often delayed jobs (retries, next looks) and the recurring schedule are checked.</summary>
    public TimeSpan SchedulePollingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The wait before a run that found its key busy runs again.</summary>
    public TimeSpan BusyRetryDelay { get; set; } = TimeSpan.FromSeconds(2);
}
