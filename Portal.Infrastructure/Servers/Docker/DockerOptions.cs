using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Servers.Docker;

/// <summary>
/// The <c>Docker</c> configuration section: the Docker Engine the <see cref="DockerBackend"/> drives (one container
/// per user, named <c>{ContainerNamePrefix}{username}</c>), the images, mounts and published ports of those containers.
/// </summary>
public sealed class DockerOptions
{
    public const string Section = "Docker";

    /// <summary>The placeholder in <see cref="ImageTemplate"/> that the toolkit's version replaces.</summary>
    public const string VersionPlaceholder = "{version}";

    /// <summary>The Engine API's unix socket (absolute path); whoever can use it is root on the machine.</summary>
    [Required]
    public string SocketPath { get; set; } = "/var/run/docker.sock";

    /// <summary>
    /// The image of a toolkit that the catalog gives no Docker provision for (<see cref="Portal.Domain.Servers.ServerSpec.CudaProvision"/>
    /// wins when set): <see cref="VersionPlaceholder"/> is replaced by the version, e.g. <c>portal-cuda:{version}</c>.
    /// </summary>
    [Required]
    public string ImageTemplate { get; set; } = "portal-cuda:" + VersionPlaceholder;

    /// <summary>The image of a server without a toolkit.</summary>
    [Required]
    public string DefaultImage { get; set; } = "portal-notebook:latest";

    /// <summary>
    /// Each user's home on this machine is <c>&lt;HomeRoot&gt;/&lt;username&gt;</c>, bind-mounted read-write at
    /// <see cref="ContainerHome"/>; the backend creates a missing one (mode 0700, owned by the portal's user: give it
    /// the owner the image's user needs, or create homes beforehand).
    /// </summary>
    [Required]
    public string HomeRoot { get; set; } = DataPath("homes");

    /// <summary>Where the home appears in the container; also its <c>HOME</c> and working directory.</summary>
    [Required]
    public string ContainerHome { get; set; } = "/home/jovyan";

    /// <summary>A folder of this machine shared by every user, mounted read-only at <see cref="SharedDataMountPoint"/>; none when empty.</summary>
    public string? SharedDataPath { get; set; }

    [Required]
    public string SharedDataMountPoint { get; set; } = "/srv/data";

    /// <summary>The port the single-user server listens on in the container (also passed as <c>JUPYTER_PORT</c>).</summary>
    [Range(1, 65535)]
    public int ContainerPort { get; set; } = 8888;

    /// <summary>The host address the container port is published on; the portal reaches the server there.</summary>
    [Required]
    public string PublishAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The host ports Docker may publish a server on (both set, start ≤ end; Docker picks a free one, never two servers
    /// on one port). Neither set: any free ephemeral port.
    /// </summary>
    [Range(1, 65535)]
    public int? PortRangeStart { get; set; }

    [Range(1, 65535)]
    public int? PortRangeEnd { get; set; }

    /// <summary>The host in the URL handed to the user.</summary>
    [Required]
    public string BaseUrlHost { get; set; } = "127.0.0.1";

    /// <summary>
    /// Ask Docker for the server's GPUs (a device request for <see cref="GpuDriver"/>, by UUID). Needs the NVIDIA
    /// container toolkit on the node; off where there is none (a start would fail). Off, the GPUs are named only in
    /// <c>NVIDIA_VISIBLE_DEVICES</c> (enough where <c>nvidia</c> is Docker's default runtime).
    /// </summary>
    public bool RequestGpus { get; set; } = true;

    [Required]
    public string GpuDriver { get; set; } = "nvidia";

    /// <summary>More environment variables of every server (the backend's own, such as the token, win).</summary>
    public Dictionary<string, string> Environment { get; set; } = [];

    /// <summary>The command of the container instead of the image's (empty: the image's own).</summary>
    public List<string> Command { get; set; } = [];

    /// <summary>Containers are named <c>{prefix}{username}</c>: a second container of one user cannot be created.</summary>
    [Required]
    [RegularExpression(@"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}\z")]
    public string ContainerNamePrefix { get; set; } = "portal-";

    /// <summary>How long a started server may take to answer before it counts as failed.</summary>
    [Range(1, 3600)]
    public int StartTimeoutSeconds { get; set; } = 120;

    /// <summary>How long a stop waits after SIGTERM before Docker kills the container.</summary>
    [Range(0, 300)]
    public int StopTimeoutSeconds { get; set; } = 10;

    /// <summary>Per Engine API request (a stop may take <see cref="StopTimeoutSeconds"/> longer).</summary>
    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 30;

    private static string DataPath(string name) =>
        Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.LocalApplicationData,
            System.Environment.SpecialFolderOption.DoNotVerify), "gpu-portal", "docker", name);
}
