using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers;

/// <summary>The node's GPUs: from configuration, or read once from <c>nvidia-smi</c> where it is installed.</summary>
public sealed partial class GpuInventory(IOptions<ServerOptions> options, ILogger<GpuInventory> logger)
{
    public const string NvidiaSmi = "/usr/bin/nvidia-smi";
    private readonly Lazy<IReadOnlyList<GpuDevice>> _devices = new(() => Load(options.Value, logger));

    public IReadOnlyList<GpuDevice> Devices => _devices.Value;

    private static IReadOnlyList<GpuDevice> Load(ServerOptions options, ILogger logger)
    {
        if (options.Gpus.Count > 0 || !options.DiscoverGpus || !File.Exists(NvidiaSmi))
        {
            return options.Gpus;
        }
        try
        {
            var start = new ProcessStartInfo(NvidiaSmi, "--query-gpu=index,uuid,name,memory.total,driver_version --format=csv,noheader")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit(10_000);
            var devices = process.ExitCode == 0 ? GpuAllocator.ParseNvidiaSmi(output) : [];
            LogDiscovered(logger, devices.Count);
            return devices;
        }
        catch (Exception e) when (e is FormatException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            LogDiscoveryFailed(logger, e);
            return options.Gpus;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "nvidia-smi reports {Count} GPUs")]
    private static partial void LogDiscovered(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading GPUs with nvidia-smi failed; using the configured list")]
    private static partial void LogDiscoveryFailed(ILogger logger, Exception error);
}
