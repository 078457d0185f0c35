namespace Portal.Infrastructure.Usage;

/// <summary>The <c>Usage</c> configuration section.</summary>
public sealed class UsageOptions
{
    public const string Section = "Usage";

    /// <summary>How often every home folder is measured.</summary>
    public TimeSpan StorageSampleInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The longest one home folder may take to walk; a walk that runs out of time records nothing for that user (a
    /// partial figure would understate the use), and the next run tries again.
    /// </summary>
    public TimeSpan StorageWalkTimeout { get; set; } = TimeSpan.FromMinutes(2);
}
