namespace Portal.Infrastructure.Servers;

/// <summary>GPU <see cref="GpuIndex"/> belongs to server <see cref="ServerId"/> until released; the key makes it exclusive.</summary>
public sealed class GpuAssignment
{
    public int GpuIndex { get; set; }
    public Guid ServerId { get; set; }
    public DateTimeOffset AssignedAt { get; set; }
}
