using Portal.Domain.Accounts;

namespace Portal.Domain.Servers;

/// <summary>What one user's server should be: who, which toolkit, which GPUs, how much.</summary>
public sealed record ServerSpec(
    Guid ServerId,
    Username Username,
    string? CudaToolkit,
    IReadOnlyList<GpuDevice> Gpus,
    ResourceLimits Limits)
{
    /// <summary>
    /// How this backend provides <see cref="CudaToolkit"/>, from the toolkit catalog: an image tag (Docker, LXD), an
    /// environment module or a path such as <c>/usr/local/cuda-12.4</c> (Slurm, local), a <c>user_options</c> value
    /// (JupyterHub). Null: the backend's own default for that version.
    /// </summary>
    public string? CudaProvision { get; init; }
}

/// <summary>
/// How a backend finds a server again: its name and a reference of its own (a hub user name, a process id and port,
/// a Slurm job id, a container id). Stored with the server so a restarted portal re-attaches instead of starting anew.
/// </summary>
public sealed record ServerRef(string Backend, Username Username, string Reference);

/// <summary>The answer to a start request; a closed set.</summary>
public abstract record StartResult
{
    private StartResult()
    {
    }

    /// <summary>Running and answering at <paramref name="Url"/> (also the answer when it was already running).</summary>
    public sealed record Ready(ServerRef Server, Uri Url) : StartResult;

    /// <summary>Accepted and on its way; poll or follow the progress.</summary>
    public sealed record Pending(ServerRef Server) : StartResult;

    /// <summary>The backend will not start it (quota, no capacity, bad options); nothing is left running.</summary>
    public sealed record Refused(string Reason) : StartResult;
}

/// <summary>What the backend says about a server now; a closed set, and "not found" is <see cref="Stopped"/>.</summary>
public abstract record ServerStatus
{
    private ServerStatus()
    {
    }

    public sealed record Running(Uri Url, DateTimeOffset? LastActivity) : ServerStatus;

    public sealed record Starting(int? Percent, string? Message) : ServerStatus;

    public sealed record Stopping : ServerStatus;

    /// <summary>Not there (never started, stopped, or gone); <paramref name="Reason"/> says why when known.</summary>
    public sealed record Stopped(string? Reason) : ServerStatus;

    public sealed record Failed(string Reason) : ServerStatus;
}

/// <summary>One step of a start, as the backend reports it.</summary>
public sealed record ProgressEvent(int Percent, string Message, bool Ready = false, bool Failed = false, Uri? Url = null);

/// <summary>
/// A place where users' Jupyter servers run: local processes, JupyterHub, Slurm, Docker, LXD.
/// Every operation is safe to repeat; the jobs call them until the observed state equals the desired one.
/// </summary>
public interface ISpawnerBackend
{
    /// <summary>The name stored with each server (<see cref="ServerRef.Backend"/>), e.g. <c>local</c>, <c>jupyterhub</c>.</summary>
    string Name { get; }

    /// <summary>How long a start may take before the server counts as failed.</summary>
    TimeSpan StartTimeout { get; }

    /// <summary>Starts the server. Idempotent: when it already runs (or is starting) for this user, that is the answer.</summary>
    Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken);

    /// <summary>Stops the server and releases what it held. Idempotent: already gone is success.</summary>
    Task StopAsync(ServerRef server, CancellationToken cancellationToken);

    /// <summary>The server's state now. Never throws for "not found" (that is <see cref="ServerStatus.Stopped"/>).</summary>
    Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken);

    /// <summary>Progress of a start until ready or failed; ends at once for a server that is already ready or gone.</summary>
    IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, CancellationToken cancellationToken);
}
