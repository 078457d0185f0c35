using Portal.Domain.Accounts;

namespace Portal.Domain.Servers;

public enum SessionOutcome
{
    /// <summary>Still going (starting or running).</summary>
    Open,
    Stopped,
    Failed,
}

/// <summary>One start-to-stop of a server: when it was asked for, ready, stopped, and how it ended. Usage accounting reads these.</summary>
public sealed class ServerSession
{
    private ServerSession(Guid id, Guid serverId, Username username, string backend, DateTimeOffset requestedAt, int gpuCount, string? cudaToolkit)
    {
        Id = id;
        ServerId = serverId;
        Username = username;
        Backend = backend;
        RequestedAt = requestedAt;
        GpuCount = gpuCount;
        CudaToolkit = cudaToolkit;
        Outcome = SessionOutcome.Open;
    }

    public Guid Id { get; private set; }
    public Guid ServerId { get; private set; }
    public Username Username { get; private set; }
    public string Backend { get; private set; }
    public DateTimeOffset RequestedAt { get; private set; }
    public DateTimeOffset? ReadyAt { get; private set; }
    public DateTimeOffset? EndedAt { get; private set; }
    public SessionOutcome Outcome { get; private set; }
    public int GpuCount { get; private set; }
    public string? CudaToolkit { get; private set; }
    public string? FailureReason { get; private set; }

    /// <summary>Time from the click to ready, once ready.</summary>
    public TimeSpan? SpawnDuration => ReadyAt - RequestedAt;

    public static ServerSession Open(UserServer server, int gpuCount) =>
        new(server.CurrentSessionId ?? throw new InvalidOperationException("The server has no session."), server.Id, server.Username,
            server.Backend, server.StartRequestedAt ?? server.StateChangedAt, gpuCount, server.CudaToolkit);

    public void Ready(DateTimeOffset at) => ReadyAt ??= at;

    public void End(SessionOutcome outcome, string? reason, DateTimeOffset at)
    {
        if (Outcome != SessionOutcome.Open)
        {
            throw new Common.InvalidTransitionException(nameof(ServerSession), Outcome.ToString(), outcome.ToString());
        }
        if (outcome == SessionOutcome.Open)
        {
            throw new ArgumentOutOfRangeException(nameof(outcome));
        }
        Outcome = outcome;
        FailureReason = reason is { Length: > UserServer.ReasonMax } ? reason[..UserServer.ReasonMax] : reason;
        EndedAt = at;
    }
}
