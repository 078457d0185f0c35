namespace Portal.Infrastructure.Jobs;

/// <summary>
/// The work of one <see cref="JobKind"/>. <see cref="PortalJobRunner"/> is the only Hangfire job: it takes the kind's
/// lock, calls <see cref="RunAsync"/> and schedules the next look, so every job gets the same exclusion, retry and
/// logging without repeating them.
/// </summary>
public interface IPortalJob
{
    JobKind Kind { get; }

    /// <summary>How runs for the same key relate; see <see cref="JobConcurrency"/>.</summary>
    JobConcurrency Concurrency { get; }

    /// <summary>Does the work for <paramref name="key"/>; returns when to look again, or null when nothing is left.</summary>
    Task<TimeSpan?> RunAsync(string key, CancellationToken cancellationToken);
}

public enum JobConcurrency
{
    /// <summary>
    /// One run per key in the whole cluster. A run that finds the key busy runs again shortly: the busy run may have
    /// read the state before the change that asked for this one.
    /// </summary>
    OnePerKeyRunAgain,
    /// <summary>One run in the whole cluster; a run that finds it busy is dropped (recurring sweeps: the next tick comes anyway).</summary>
    OnePerKeySkip,
    /// <summary>Runs may overlap: the work claims its rows itself (the mail outbox).</summary>
    Overlapping,
}
