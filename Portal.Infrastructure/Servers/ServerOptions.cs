using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers;

/// <summary>The <c>Servers</c> configuration section.</summary>
public sealed class ServerOptions
{
    public const string Section = "Servers";

    /// <summary>Which backend new servers use: <c>local</c> (the default), <c>jupyterhub</c>, <c>slurm</c>, <c>docker</c> or <c>lxd</c>.</summary>
    public string Backend { get; set; } = "local";

    /// <summary>Running servers idle longer than this are stopped.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How long before the stop the page warns and offers "keep running".</summary>
    public TimeSpan IdleWarning { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often every server that is not stopped is checked against its backend.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>GPUs of the node when not discovered with nvidia-smi (<see cref="DiscoverGpus"/>).</summary>
    public List<GpuDevice> Gpus { get; set; } = [];

    /// <summary>Read the GPUs from <c>nvidia-smi</c> when it is installed.</summary>
    public bool DiscoverGpus { get; set; } = true;

    /// <summary>Shown in the connection help: the SSH login host and the jump host in front of it.</summary>
    public string LoginHost { get; set; } = "gpu.example.ac.jp";

    public string? JumpHost { get; set; } = "gateway.example.ac.jp";
}
