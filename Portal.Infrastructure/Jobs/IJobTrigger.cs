namespace Portal.Infrastructure.Jobs;

/// <summary>Asks for a job to run now, on whichever node is free.</summary>
public interface IJobTrigger
{
    /// <summary>
    /// Best effort, and it never throws for a job store that is busy or away: the wish is already in the database
    /// when this is called (an approved application, a server's desired state, a queued mail), and the recurring
    /// sweeps find it within their interval if this enqueue is lost (docs/decisions/0015-jobs-on-hangfire.md).
    /// </summary>
    Task RunSoonAsync(JobRequest request, CancellationToken cancellationToken);
}
