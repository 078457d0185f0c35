using System.Collections.Concurrent;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// The runs this node has enqueued that have not started yet, for the kinds where one run does all that is due (mail
/// dispatch): while one waits in the queue, another ask adds nothing but a row for Hangfire to carry. Three hundred
/// provisioned accounts ask for a dispatch each; behind busy workers, one or a few runs send all their mail.
/// </summary>
/// <remarks>
/// A run another node takes never clears this node's mark, so a mark counts for <see cref="MarkLifetime"/> only: after
/// that an ask enqueues again. Mail is never lost either way; it is in the outbox, and the recurring dispatch sends it.
/// </remarks>
public sealed class WaitingRuns(TimeProvider clock)
{
    public static readonly TimeSpan MarkLifetime = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<JobRequest, DateTimeOffset> _enqueuedAt = new();

    /// <summary>Whether one run of the kind does the work of every ask that came before it started.</summary>
    public static bool Coalesces(JobKind kind) => kind == JobKind.MailDispatch;

    /// <summary>
    /// True when the request is to be enqueued now (and, for a coalescing kind, marks it waiting); false when a run of
    /// it, enqueued here less than <see cref="MarkLifetime"/> ago, has not started yet.
    /// </summary>
    public bool TryMarkWaiting(JobRequest request)
    {
        if (!Coalesces(request.Kind))
        {
            return true;
        }
        var now = clock.GetUtcNow();
        while (true)
        {
            if (_enqueuedAt.TryAdd(request, now))
            {
                return true;
            }
            if (!_enqueuedAt.TryGetValue(request, out var since))
            {
                continue;
            }
            if (now - since < MarkLifetime)
            {
                return false;
            }
            if (_enqueuedAt.TryUpdate(request, now, since))
            {
                return true;
            }
        }
    }

    /// <summary>A run of the request started (or its enqueue failed): the next ask enqueues again.</summary>
    public void Clear(JobRequest request) => _enqueuedAt.TryRemove(request, out _);
}
