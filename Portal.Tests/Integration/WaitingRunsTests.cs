using Portal.Infrastructure.Jobs;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>The asks for a mail dispatch that one waiting run already covers add no job; other kinds are never held back.</summary>
public sealed class WaitingRunsTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    [Fact]
    public void TryMarkWaiting_DispatchAskedWhileOneWaits_AddsNothing()
    {
        var waiting = new WaitingRuns(_clock);

        Assert.True(waiting.TryMarkWaiting(JobRequest.MailDispatch));
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.False(waiting.TryMarkWaiting(JobRequest.MailDispatch));
    }

    [Fact]
    public void TryMarkWaiting_AfterTheWaitingRunStarted_EnqueuesAgain()
    {
        var waiting = new WaitingRuns(_clock);
        Assert.True(waiting.TryMarkWaiting(JobRequest.MailDispatch));

        waiting.Clear(JobRequest.MailDispatch);

        Assert.True(waiting.TryMarkWaiting(JobRequest.MailDispatch));
    }

    [Fact]
    public void TryMarkWaiting_MarkOlderThanItsLifetime_EnqueuesAgain()
    {
        var waiting = new WaitingRuns(_clock);
        Assert.True(waiting.TryMarkWaiting(JobRequest.MailDispatch));

        _clock.Advance(WaitingRuns.MarkLifetime);

        Assert.True(waiting.TryMarkWaiting(JobRequest.MailDispatch));
        Assert.False(waiting.TryMarkWaiting(JobRequest.MailDispatch));
    }

    [Fact]
    public void TryMarkWaiting_KeyedKinds_AlwaysEnqueue()
    {
        var waiting = new WaitingRuns(_clock);
        var server = JobRequest.Server(Guid.NewGuid());
        var application = JobRequest.Provisioning(Guid.NewGuid());

        Assert.True(waiting.TryMarkWaiting(server));
        Assert.True(waiting.TryMarkWaiting(server));
        Assert.True(waiting.TryMarkWaiting(application));
        Assert.True(waiting.TryMarkWaiting(application));
    }
}
