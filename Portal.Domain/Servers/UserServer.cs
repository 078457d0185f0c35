using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Servers;

/// <summary>
/// A user's Jupyter server: what they asked for (<see cref="Desired"/>) and what the backend last said
/// (<see cref="Observed"/>). Clicks change the desired state; the reconcile job moves the observed state toward it.
/// Every move is a verb that throws <see cref="InvalidTransitionException"/> when it is not allowed.
/// </summary>
public sealed class UserServer
{
    public const int MessageMax = 500;
    public const int ReasonMax = 1000;

    private UserServer(Guid id, Username username, string backend, DateTimeOffset stateChangedAt)
    {
        Id = id;
        Username = username;
        Backend = backend;
        Desired = DesiredServerState.Stopped;
        Observed = ServerState.Stopped;
        StateChangedAt = stateChangedAt;
    }

    public Guid Id { get; private set; }
    public Username Username { get; private set; }
    public string Backend { get; private set; }
    public string? BackendReference { get; private set; }
    public string? Url { get; private set; }
    public string? CudaToolkit { get; private set; }
    public DesiredServerState Desired { get; private set; }
    public ServerState Observed { get; private set; }
    public DateTimeOffset StateChangedAt { get; private set; }
    public DateTimeOffset? StartRequestedAt { get; private set; }
    public DateTimeOffset? ReadyAt { get; private set; }
    public DateTimeOffset? LastActivityAt { get; private set; }
    public DateTimeOffset? IdleWarnedAt { get; private set; }
    public string? FailureReason { get; private set; }
    public int Attempts { get; private set; }
    public string? LastError { get; private set; }
    public int ProgressPercent { get; private set; }
    public string? ProgressMessage { get; private set; }

    /// <summary>A toolkit switch of a running server: once stopped, start again (with <see cref="CudaToolkit"/>).</summary>
    public bool RestartAfterStop { get; private set; }

    /// <summary>The session (start to stop) in progress, for usage accounting.</summary>
    public Guid? CurrentSessionId { get; private set; }

    public int Version { get; private set; }

    public bool IsPending => Observed is ServerState.StartPending or ServerState.StopPending;

    public ServerRef? Reference => BackendReference is null ? null : new ServerRef(Backend, Username, BackendReference);

    public static UserServer Create(Username username, string backend, DateTimeOffset at) => new(Guid.NewGuid(), username, backend, at);

    /// <summary>The user pressed Start. False when it is already starting or running (a second click changes nothing).</summary>
    public bool RequestStart(string backend, string? cudaToolkit, Guid sessionId, DateTimeOffset at)
    {
        switch (Observed)
        {
            case ServerState.StartPending or ServerState.Running:
                return false;
            case ServerState.StopPending:
                throw new InvalidTransitionException(nameof(UserServer), Observed.ToString(), nameof(ServerState.StartPending));
            case ServerState.Stopped or ServerState.Failed:
                Desired = DesiredServerState.Running;
                Backend = backend;
                CudaToolkit = cudaToolkit;
                BackendReference = null;
                Url = null;
                FailureReason = null;
                LastError = null;
                Attempts = 0;
                ReadyAt = null;
                IdleWarnedAt = null;
                StartRequestedAt = at;
                CurrentSessionId = sessionId;
                Move(ServerState.StartPending, at);
                Progress(0, null);
                return true;
            default:
                throw new InvalidOperationException($"Unknown state {Observed}.");
        }
    }

    /// <summary>The user (or the idle culler, or an admin) asked to stop. False when it is already stopping or stopped.</summary>
    public bool RequestStop(DateTimeOffset at)
    {
        switch (Observed)
        {
            case ServerState.StopPending or ServerState.Stopped:
                Desired = DesiredServerState.Stopped;
                return false;
            case ServerState.Failed:
                Desired = DesiredServerState.Stopped;
                Move(ServerState.Stopped, at);
                return true;
            case ServerState.StartPending or ServerState.Running:
                Desired = DesiredServerState.Stopped;
                Move(ServerState.StopPending, at);
                return true;
            default:
                throw new InvalidOperationException($"Unknown state {Observed}.");
        }
    }

    /// <summary>
    /// The user picked another toolkit. Stopped or failed: remembered for the next start. Running: stop, then start
    /// again with it (<see cref="RestartAfterStop"/>). Pending: refused until the operation is done.
    /// </summary>
    public void SwitchToolkit(string version, DateTimeOffset at)
    {
        switch (Observed)
        {
            case ServerState.Stopped or ServerState.Failed:
                CudaToolkit = version;
                Version++;
                break;
            case ServerState.Running:
                CudaToolkit = version;
                RestartAfterStop = true;
                Desired = DesiredServerState.Stopped;
                Move(ServerState.StopPending, at);
                break;
            case ServerState.StartPending or ServerState.StopPending:
                throw new InvalidTransitionException(nameof(UserServer), Observed.ToString(), "switch toolkit");
            default:
                throw new InvalidOperationException($"Unknown state {Observed}.");
        }
    }

    /// <summary>After a switch's stop: start again with the new toolkit, keeping the GPUs.</summary>
    public void Restart(Guid sessionId, DateTimeOffset at)
    {
        if (Observed != ServerState.Stopped || !RestartAfterStop)
        {
            throw new InvalidTransitionException(nameof(UserServer), Observed.ToString(), "restart");
        }
        RestartAfterStop = false;
        RequestStart(Backend, CudaToolkit, sessionId, at);
    }

    /// <summary>The backend accepted the start and told us how to find the server again.</summary>
    public void Attach(ServerRef reference)
    {
        Require(ServerState.StartPending, nameof(Attach));
        BackendReference = reference.Reference;
        Version++;
    }

    public void Progress(int percent, string? message)
    {
        ProgressPercent = Math.Clamp(percent, 0, 100);
        ProgressMessage = message is { Length: > MessageMax } ? message[..MessageMax] : message;
    }

    public void MarkRunning(Uri url, DateTimeOffset at)
    {
        Require(ServerState.StartPending, nameof(ServerState.Running));
        Url = url.ToString();
        ReadyAt = at;
        LastActivityAt = at;
        Progress(100, null);
        Move(ServerState.Running, at);
    }

    /// <summary>Stopped as asked, or found gone (then <paramref name="reason"/> says why).</summary>
    public void MarkStopped(string? reason, DateTimeOffset at)
    {
        if (Observed is ServerState.Stopped or ServerState.Failed)
        {
            throw new InvalidTransitionException(nameof(UserServer), Observed.ToString(), nameof(ServerState.Stopped));
        }
        FailureReason = Clip(reason);
        Url = null;
        BackendReference = null;
        Desired = DesiredServerState.Stopped;
        if (reason is not null)
        {
            // Found gone rather than stopped as asked: a pending switch does not restart it.
            RestartAfterStop = false;
        }
        Move(ServerState.Stopped, at);
    }

    /// <summary>A pending start or stop did not complete; <paramref name="reason"/> is shown to the user.</summary>
    public void MarkFailed(string reason, DateTimeOffset at)
    {
        if (!IsPending)
        {
            throw new InvalidTransitionException(nameof(UserServer), Observed.ToString(), nameof(ServerState.Failed));
        }
        FailureReason = Clip(reason);
        Url = null;
        Desired = DesiredServerState.Stopped;
        RestartAfterStop = false;
        Move(ServerState.Failed, at);
    }

    /// <summary>A job attempt hit an error it will retry; the state stays as it is.</summary>
    public void RecordAttemptError(string error)
    {
        Attempts++;
        LastError = Clip(error);
        Version++;
    }

    public void RecordActivity(DateTimeOffset at)
    {
        if (LastActivityAt is null || at > LastActivityAt)
        {
            LastActivityAt = at;
            IdleWarnedAt = null;
        }
    }

    /// <summary>"Keep running": the idle clock starts again now.</summary>
    public void KeepRunning(DateTimeOffset at)
    {
        Require(ServerState.Running, nameof(KeepRunning));
        LastActivityAt = at;
        IdleWarnedAt = null;
        Version++;
    }

    public void WarnIdle(DateTimeOffset at)
    {
        Require(ServerState.Running, nameof(WarnIdle));
        IdleWarnedAt = at;
        Version++;
    }

    private void Require(ServerState state, string to)
    {
        if (Observed != state)
        {
            throw new InvalidTransitionException(nameof(UserServer), Observed.ToString(), to);
        }
    }

    private void Move(ServerState to, DateTimeOffset at)
    {
        Observed = to;
        StateChangedAt = at;
        Version++;
    }

    private static string? Clip(string? text) => text is { Length: > ReasonMax } ? text[..ReasonMax] : text;
}
