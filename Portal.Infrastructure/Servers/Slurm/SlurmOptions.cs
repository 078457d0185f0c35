using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Servers.Slurm;

/// <summary>
/// The <c>Slurm</c> configuration section: the cluster the <see cref="SlurmBackend"/> submits users' Jupyter servers
/// to as batch jobs, through Slurm's command-line tools.
/// </summary>
public sealed class SlurmOptions
{
    public const string Section = "Slurm";

    /// <summary>
    /// The cluster's <c>slurm.conf</c>, handed to the tools as <c>SLURM_CONF</c>; empty: Slurm's own default
    /// (<c>/etc/slurm/slurm.conf</c>, or configless).
    /// </summary>
    public string? ConfPath { get; set; }

    /// <summary>Where <c>sbatch</c>, <c>squeue</c>, <c>scancel</c> and <c>scontrol</c> are (Debian's <c>slurm-client</c>).</summary>
    [Required]
    public string CommandDirectory { get; set; } = "/usr/bin";

    /// <summary>
    /// The backend's files: per user a token file (0600), the batch script, the job's log and the endpoint file the job
    /// writes (<c>&lt;username&gt;.endpoint</c>: node and port). Must be the same path on the portal's machine and on the
    /// compute nodes (a shared file system); mode 0700.
    /// </summary>
    [Required]
    public string StateDirectory { get; set; } = DataPath("slurm-servers");

    /// <summary>Each user works in <c>&lt;HomeRoot&gt;/&lt;username&gt;</c> (created with mode 0700), shared with the nodes.</summary>
    [Required]
    public string HomeRoot { get; set; } = DataPath("homes");

    /// <summary>Jupyter on the nodes: Debian's classic Notebook 6.4 (package <c>jupyter-notebook</c>).</summary>
    [Required]
    public string JupyterCommand { get; set; } = "/usr/bin/jupyter-notebook";

    /// <summary>The Python on the nodes that the job uses to find a free port.</summary>
    [Required]
    public string PythonCommand { get; set; } = "/usr/bin/python3";

    /// <summary>The address Jupyter listens on, on its node: all of them, so the portal and SSH tunnels reach it.</summary>
    [Required]
    public string JupyterIp { get; set; } = "0.0.0.0";

    /// <summary>The job takes a free port from this range on its node (two jobs on one node never share one).</summary>
    [Range(1, 65535)]
    public int PortRangeStart { get; set; } = 20000;

    [Range(1, 65535)]
    public int PortRangeEnd { get; set; } = 20999;

    /// <summary><c>--partition</c>; empty: the cluster's default partition.</summary>
    public string? Partition { get; set; }

    /// <summary><c>--account</c>; empty: the submitting account's default.</summary>
    public string? Account { get; set; }

    /// <summary><c>--time</c> of each job: the longest a server may run before Slurm ends it.</summary>
    [Range(1, 525_600)]
    public int WalltimeMinutes { get; set; } = 480;

    /// <summary>How long a start may take before it counts as failed, the wait in the queue included.</summary>
    [Range(5, 86_400)]
    public int StartTimeoutSeconds { get; set; } = 600;

    /// <summary>How long a stop waits for Slurm to take the cancelled jobs out of the queue.</summary>
    [Range(1, 3600)]
    public int StopTimeoutSeconds { get; set; } = 60;

    /// <summary>How often the queue is asked again while following a start or a stop.</summary>
    [Range(50, 60_000)]
    public int PollIntervalMilliseconds { get; set; } = 1000;

    /// <summary>The longest one Slurm command may take (a controller that does not answer).</summary>
    [Range(1, 600)]
    public int CommandTimeoutSeconds { get; set; } = 30;

    private static string DataPath(string name) =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
            "gpu-portal", name);
}
