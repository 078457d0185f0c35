namespace Portal.Infrastructure.Security;

/// <summary>One data protection key ring element, as XML. Infrastructure only: the domain never sees it.</summary>
public sealed class DataProtectionKey
{
    public int Id { get; set; }
    public required string FriendlyName { get; set; }
    public required string Xml { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
