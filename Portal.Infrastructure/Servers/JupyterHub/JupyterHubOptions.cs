using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Servers.JupyterHub;

/// <summary>The <c>JupyterHub</c> configuration section: the hub the <see cref="JupyterHubBackend"/> drives.</summary>
public sealed class JupyterHubOptions
{
    public const string Section = "JupyterHub";

    /// <summary>
    /// The hub's address as the portal reaches it, including the hub's <c>base_url</c> if it has one, e.g.
    /// <c>http://127.0.0.1:28000/</c>; the REST API is <c>{BaseUrl}hub/api/</c>.
    /// </summary>
    [Required]
    public string BaseUrl { get; set; } = "";

    /// <summary>
    /// The hub's address as browsers reach it, when that differs from <see cref="BaseUrl"/> (a reverse proxy in
    /// front); the links to users' servers are built on it.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>The API token of the hub service the portal is (scopes <c>admin:users</c>, <c>admin:servers</c>, <c>tokens</c>).</summary>
    [Required]
    [MinLength(8)]
    public string ApiToken { get; set; } = "";

    /// <summary>How long a start may take before it counts as failed; at least the hub's <c>Spawner.start_timeout</c>.</summary>
    [Range(5, 3600)]
    public int StartTimeoutSeconds { get; set; } = 120;

    /// <summary>How long a stop may take, including waiting for a spawn in progress to finish first.</summary>
    [Range(5, 3600)]
    public int StopTimeoutSeconds { get; set; } = 120;

    /// <summary>How often the hub is asked again while waiting for a state (stopped, spawned).</summary>
    [Range(50, 10_000)]
    public int PollIntervalMilliseconds { get; set; } = 250;

    /// <summary>Per request (not for the progress stream, which lasts as long as the spawn).</summary>
    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// The longest wait between two start attempts while the hub answers 429 (too many spawns at once); the hub's
    /// <c>Retry-After</c> is honoured up to this.
    /// </summary>
    [Range(1, 600)]
    public int MaxRetryDelaySeconds { get; set; } = 30;

    /// <summary>
    /// Put a short-lived token of the user (scope <c>access:servers!user=NAME</c>) into the server URLs the backend
    /// returns (<c>?token=…</c>), so the portal's "Open" link works without a hub login. Off when the hub shares a
    /// sign-in with the portal.
    /// </summary>
    public bool OpenLinkTokens { get; set; } = true;

    /// <summary>Lifetime of those tokens; a new one is minted when less than half of it is left.</summary>
    [Range(60, 86_400)]
    public int OpenLinkTokenLifetimeSeconds { get; set; } = 3600;
}
