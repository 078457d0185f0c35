namespace Portal.Domain.Servers;

/// <summary>One GPU of the node, as <c>nvidia-smi</c> (or configuration) describes it.</summary>
public sealed record GpuDevice(int Index, string Uuid, string Model, int MemoryMiB, string DriverVersion);

/// <summary>CPU, memory and storage limits of one server, from the user's plan.</summary>
public sealed record ResourceLimits(decimal CpuCores, int MemoryGiB, int StorageGiB, int GpuCount, string? GpuModel);
