namespace Portal.Infrastructure.Accounts;

/// <summary>One failed sign-in or current-password check, counted per account and per source address.</summary>
public sealed class SignInFailureRecord
{
    public const string AccountScope = "account";
    public const string AddressScope = "address";

    public long Id { get; set; }

    /// <summary><see cref="AccountScope"/> or <see cref="AddressScope"/>.</summary>
    public required string Scope { get; set; }

    /// <summary>The username or the address.</summary>
    public required string Subject { get; set; }

    public DateTimeOffset FailedAt { get; set; }
}
