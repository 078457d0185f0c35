using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Domain.Servers;

namespace Portal.Tests.Domain;

public sealed class UserServerTests
{
    private static readonly DateTimeOffset Now = new(2026, 5, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly Uri Url = new("http://127.0.0.1:19001/?token=t");

    private static UserServer InState(ServerState state)
    {
        var server = UserServer.Create(Username.Parse("alice"), "local", Now);
        switch (state)
        {
            case ServerState.Stopped:
                break;
            case ServerState.StartPending:
                server.RequestStart("local", "12.4", Guid.NewGuid(), Now);
                break;
            case ServerState.Running:
                server.RequestStart("local", "12.4", Guid.NewGuid(), Now);
                server.MarkRunning(Url, Now);
                break;
            case ServerState.StopPending:
                server.RequestStart("local", "12.4", Guid.NewGuid(), Now);
                server.MarkRunning(Url, Now);
                server.RequestStop(Now);
                break;
            case ServerState.Failed:
                server.RequestStart("local", "12.4", Guid.NewGuid(), Now);
                server.MarkFailed("boom", Now);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(state));
        }
        Assert.Equal(state, server.Observed);
        return server;
    }

    public static TheoryData<ServerState, string, ServerState?> Moves() => new()
    {
        // from, move, expected state (null: throws InvalidTransitionException)
        { ServerState.Stopped, "start", ServerState.StartPending },
        { ServerState.Failed, "start", ServerState.StartPending },
        { ServerState.StartPending, "start", ServerState.StartPending },
        { ServerState.Running, "start", ServerState.Running },
        { ServerState.StopPending, "start", null },
        { ServerState.Running, "stop", ServerState.StopPending },
        { ServerState.StartPending, "stop", ServerState.StopPending },
        { ServerState.Failed, "stop", ServerState.Stopped },
        { ServerState.Stopped, "stop", ServerState.Stopped },
        { ServerState.StopPending, "stop", ServerState.StopPending },
        { ServerState.StartPending, "running", ServerState.Running },
        { ServerState.Stopped, "running", null },
        { ServerState.Running, "running", null },
        { ServerState.StopPending, "running", null },
        { ServerState.Failed, "running", null },
        { ServerState.StartPending, "stopped", ServerState.Stopped },
        { ServerState.Running, "stopped", ServerState.Stopped },
        { ServerState.StopPending, "stopped", ServerState.Stopped },
        { ServerState.Stopped, "stopped", null },
        { ServerState.Failed, "stopped", null },
        { ServerState.StartPending, "failed", ServerState.Failed },
        { ServerState.StopPending, "failed", ServerState.Failed },
        { ServerState.Running, "failed", null },
        { ServerState.Stopped, "failed", null },
        { ServerState.Failed, "failed", null },
    };

    [Theory]
    [MemberData(nameof(Moves))]
    public void Move_FromEachState_ReachesExpectedStateOrThrows(ServerState from, string move, ServerState? expected)
    {
        var server = InState(from);
        Action act = move switch
        {
            "start" => () => server.RequestStart("local", null, Guid.NewGuid(), Now),
            "stop" => () => server.RequestStop(Now),
            "running" => () => server.MarkRunning(Url, Now),
            "stopped" => () => server.MarkStopped("gone", Now),
            "failed" => () => server.MarkFailed("timeout", Now),
            _ => throw new ArgumentOutOfRangeException(nameof(move)),
        };

        if (expected is { } state)
        {
            act();
            Assert.Equal(state, server.Observed);
        }
        else
        {
            Assert.Throws<InvalidTransitionException>(act);
            Assert.Equal(from, server.Observed);
        }
    }

    [Fact]
    public void RequestStart_SecondClick_ReturnsFalseAndKeepsTheFirstSession()
    {
        var server = UserServer.Create(Username.Parse("alice"), "local", Now);
        var first = Guid.NewGuid();

        Assert.True(server.RequestStart("local", "12.4", first, Now));
        Assert.False(server.RequestStart("local", "11.8", Guid.NewGuid(), Now.AddSeconds(1)));

        Assert.Equal(first, server.CurrentSessionId);
        Assert.Equal("12.4", server.CudaToolkit);
        Assert.Equal(DesiredServerState.Running, server.Desired);
    }

    [Fact]
    public void MarkFailed_WhileStarting_KeepsReasonAndWantsStopped()
    {
        var server = InState(ServerState.StartPending);

        server.MarkFailed("No GPU answered", Now);

        Assert.Equal("No GPU answered", server.FailureReason);
        Assert.Equal(DesiredServerState.Stopped, server.Desired);
        Assert.Null(server.Url);
    }

    [Fact]
    public void RecordActivity_Newer_ClearsIdleWarning()
    {
        var server = InState(ServerState.Running);
        server.WarnIdle(Now.AddHours(2));

        server.RecordActivity(Now.AddHours(3));

        Assert.Null(server.IdleWarnedAt);
        Assert.Equal(Now.AddHours(3), server.LastActivityAt);
    }
}
