namespace Portal.Infrastructure.Usage;

/// <summary>How many bytes a user's home folder held when <see cref="StorageSamplingJob"/> last walked it.</summary>
public sealed class StorageSample
{
    public long Id { get; set; }
    public required string Username { get; set; }
    public DateTimeOffset SampledAt { get; set; }
    public long Bytes { get; set; }
}
