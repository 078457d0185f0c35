using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Servers.LocalProcess;

/// <summary>
/// The <c>LocalProcess</c> configuration section: one <c>jupyter-notebook</c> process per user on this machine, each
/// on a port of its own from <see cref="PortRangeStart"/>–<see cref="PortRangeEnd"/>.
/// </summary>
public sealed class LocalProcessOptions
{
    public const string Section = "LocalProcess";

    [Range(1, 65535)]
    public int PortRangeStart { get; set; } = 19000;

    [Range(1, 65535)]
    public int PortRangeEnd { get; set; } = 19999;

    /// <summary>Each user works in <c>&lt;HomeRoot&gt;/&lt;username&gt;</c> (created with mode 0700).</summary>
    [Required]
    public string HomeRoot { get; set; } = DataPath("homes");

    /// <summary>
    /// Where the backend keeps one state file per user (pid, port, token, start times), the servers' logs and Jupyter's
    /// runtime files; mode 0700. Portals on one machine that share it never give two users one port.
    /// </summary>
    [Required]
    public string StateDirectory { get; set; } = DataPath("local-servers");

    /// <summary>Debian's classic Notebook 6.4 (package <c>jupyter-notebook</c>), which runs under <c>/usr/bin/python3</c>.</summary>
    [Required]
    public string JupyterCommand { get; set; } = "/usr/bin/jupyter-notebook";

    /// <summary>How long a started server may take to answer before it counts as failed.</summary>
    [Range(1, 3600)]
    public int StartTimeoutSeconds { get; set; } = 60;

    /// <summary>How long a stop waits after SIGTERM before it sends SIGKILL.</summary>
    [Range(1, 300)]
    public int StopTimeoutSeconds { get; set; } = 10;

    /// <summary>The host in the URL handed to the user; the servers themselves listen on 127.0.0.1 only.</summary>
    [Required]
    public string BaseUrlHost { get; set; } = "127.0.0.1";

    private static string DataPath(string name) =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify),
            "gpu-portal", name);
}
