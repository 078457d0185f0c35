namespace Portal.Domain.Servers;

/// <summary>What the backend last said: Stopped → StartPending → Running → StopPending → Stopped; a pending state may end Failed.</summary>
public enum ServerState
{
    Stopped,
    StartPending,
    Running,
    StopPending,
    Failed,
}

/// <summary>What the user last asked for.</summary>
public enum DesiredServerState
{
    Stopped,
    Running,
}
