using System.Collections.Concurrent;
using System.Globalization;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Jobs;

namespace Portal.Tests.Support;

/// <summary>
/// A fake of the job engine's trigger for tests that wire services by hand: it records what was asked for and runs
/// nothing, so the test runs the job's work itself (or reads the outbox) and can say how often it was asked.
/// </summary>
public sealed class RecordingJobTrigger : IJobTrigger
{
    private readonly ConcurrentQueue<JobRequest> _requests = new();

    public IReadOnlyCollection<JobRequest> Requests => _requests;

    public IReadOnlyList<Guid> ServerIds => [.. Keys(JobKind.Server).Select(k => Guid.Parse(k, CultureInfo.InvariantCulture))];

    public IReadOnlyList<Username> Usernames => [.. Keys(JobKind.UserAdministration).Select(Username.Parse)];

    public int Count(JobKind kind) => _requests.Count(r => r.Kind == kind);

    public IEnumerable<string> Keys(JobKind kind) => _requests.Where(r => r.Kind == kind).Select(r => r.Key);

    public Task RunSoonAsync(JobRequest request, CancellationToken cancellationToken)
    {
        _requests.Enqueue(request);
        return Task.CompletedTask;
    }
}
