using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Servers.Lxd;

/// <summary>
/// The <c>Lxd</c> configuration section: the LXD the <see cref="LxdBackend"/> drives (one container per user, reached
/// through a proxy device on a host port of <see cref="PortRangeStart"/>–<see cref="PortRangeEnd"/>).
/// </summary>
public sealed class LxdOptions
{
    public const string Section = "Lxd";

    /// <summary>LXD's unix socket (Debian's package: <c>/var/lib/lxd/unix.socket</c>; the snap: <c>/var/snap/lxd/common/lxd/unix.socket</c>).</summary>
    [Required]
    public string SocketPath { get; set; } = "/var/lib/lxd/unix.socket";

    /// <summary>The LXD project the instances live in.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    public string Project { get; set; } = "default";

    /// <summary>Profiles every instance gets (the <c>default</c> profile carries the root disk).</summary>
    public List<string> Profiles { get; set; } = ["default"];

    /// <summary>
    /// The image alias for a toolkit the catalog gives no LXD provision for: <c>{major}</c> and <c>{minor}</c> are
    /// replaced by the version's parts (<c>12.4</c> → <c>portal-cuda-12-4</c>). The catalog's provision
    /// (<see cref="Portal.Domain.Servers.ServerSpec.CudaProvision"/>) wins, then <see cref="Images"/>, then this.
    /// </summary>
    [Required]
    public string ImageTemplate { get; set; } = "portal-cuda-{major}-{minor}";

    /// <summary>Image aliases by toolkit version, where they do not follow <see cref="ImageTemplate"/>.</summary>
    public Dictionary<string, string> Images { get; set; } = [];

    /// <summary>The image of a server without a toolkit.</summary>
    [Required]
    public string DefaultImage { get; set; } = "portal-default";

    /// <summary>
    /// Each user's folder <c>&lt;HomeRoot&gt;/&lt;username&gt;</c> (created with mode 0700 when missing) is bind-mounted at
    /// <c>/home/&lt;username&gt;</c> in the container.
    /// </summary>
    [Required]
    public string HomeRoot { get; set; } = DataPath("homes");

    /// <summary>
    /// Mount the home with <c>shift=true</c> (idmapped mount: files keep their owners as the container sees them).
    /// Needs kernel and LXD support for idmapped mounts; without it the start fails.
    /// </summary>
    public bool ShiftHomeMount { get; set; }

    /// <summary>Host ports of the servers' proxy devices; never two instances on one port.</summary>
    [Range(1, 65535)]
    public int PortRangeStart { get; set; } = 20000;

    [Range(1, 65535)]
    public int PortRangeEnd { get; set; } = 20999;

    /// <summary>The host address the proxy devices listen on.</summary>
    [Required]
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>The host in the URL handed to the user.</summary>
    [Required]
    public string BaseUrlHost { get; set; } = "127.0.0.1";

    /// <summary>The port the single-user server listens on inside the container (on its 127.0.0.1).</summary>
    [Range(1, 65535)]
    public int ServerPort { get; set; } = 8888;

    /// <summary>
    /// Give the container a <c>gpu</c> device per assigned GPU (<c>id</c> = the GPU's index). Off where there is no
    /// GPU (the tests): LXD refuses to start an instance with a GPU device it cannot find.
    /// </summary>
    public bool AttachGpus { get; set; } = true;

    /// <summary>Set <c>nvidia.runtime=true</c> on instances with GPUs (the host's NVIDIA libraries in the container; needs libnvidia-container).</summary>
    public bool NvidiaRuntime { get; set; } = true;

    /// <summary>
    /// Set the root disk's <c>size</c> from the storage quota (a <c>root</c> device on <see cref="StoragePool"/>). Only
    /// for pools whose driver has quotas (zfs, btrfs, lvm); the <c>dir</c> driver does not.
    /// </summary>
    public bool LimitRootDisk { get; set; }

    [Required]
    public string StoragePool { get; set; } = "default";

    /// <summary>More environment of every server (<c>environment.NAME</c>), e.g. a proxy for package installs.</summary>
    public Dictionary<string, string> Environment { get; set; } = [];

    /// <summary>How long a start may take (creating the container from its image included) before it counts as failed.</summary>
    [Range(5, 3600)]
    public int StartTimeoutSeconds { get; set; } = 120;

    /// <summary>How long a stop (forced stop, then delete) may take.</summary>
    [Range(5, 3600)]
    public int StopTimeoutSeconds { get; set; } = 60;

    /// <summary>How often LXD and the server are asked again while waiting.</summary>
    [Range(50, 10_000)]
    public int PollIntervalMilliseconds { get; set; } = 250;

    /// <summary>Per API request (waiting for an operation gets its own wait time on top).</summary>
    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 30;

    private static string DataPath(string name) =>
        Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.LocalApplicationData,
            System.Environment.SpecialFolderOption.DoNotVerify), "gpu-portal", name);
}
