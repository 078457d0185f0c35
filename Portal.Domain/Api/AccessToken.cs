using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Api;

/// <summary>What a token may be used for; the owner's role still decides what they may do.</summary>
[Flags]
public enum ApiScopes
{
    None = 0,
    UsersRead = 1,
    UsersWrite = 2,
    ApplicationsRead = 4,
    ApplicationsWrite = 8,
    ServersRead = 16,
    ServersWrite = 32,
    UsageRead = 64,
}

/// <summary>
/// A personal access token for the REST API: created by an admin for a person (themselves or an automation account),
/// limited to scopes and an expiry, kept only as a hash. It acts as its owner: the owner's role and status apply
/// on every call, so a token can never do more than its owner could in the pages.
/// </summary>
public sealed class AccessToken
{
    public const int NameMax = 100;
    public static readonly TimeSpan LongestLifetime = TimeSpan.FromDays(366);

    private AccessToken(Guid id, string name, Username owner, ApiScopes scopes, string prefix, string secretHash,
        Username createdBy, DateTimeOffset createdAt, DateTimeOffset expiresAt)
    {
        Id = id;
        Name = name;
        Owner = owner;
        Scopes = scopes;
        Prefix = prefix;
        SecretHash = secretHash;
        CreatedBy = createdBy;
        CreatedAt = createdAt;
        ExpiresAt = expiresAt;
    }

    public Guid Id { get; private set; }
    public string Name { get; private set; }
    public Username Owner { get; private set; }
    public ApiScopes Scopes { get; private set; }

    /// <summary>The first characters of the token, shown in lists so a person can tell their tokens apart.</summary>
    public string Prefix { get; private set; }

    /// <summary>SHA-256 of the whole token, hex; the token itself is shown once and never stored.</summary>
    public string SecretHash { get; private set; }

    public Username CreatedBy { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset ExpiresAt { get; private set; }
    public DateTimeOffset? RevokedAt { get; private set; }
    public Username? RevokedBy { get; private set; }
    public DateTimeOffset? LastUsedAt { get; private set; }

    public static AccessToken Issue(string? name, Username owner, ApiScopes scopes, string prefix, string secretHash,
        Username createdBy, DateTimeOffset now, DateTimeOffset expiresAt)
    {
        var trimmed = name?.Trim() ?? "";
        if (trimmed.Length is 0 or > NameMax)
        {
            throw new InvalidValueException(nameof(Name), $"A token needs a name of 1 to {NameMax} characters.");
        }
        ControlCharacters.ThrowIfContains(trimmed, ControlCharacters.Lines.Single, nameof(Name), "name");
        if (scopes == ApiScopes.None || (scopes & ~All) != 0)
        {
            throw new InvalidValueException(nameof(Scopes), "A token needs at least one known scope.");
        }
        if (expiresAt <= now || expiresAt - now > LongestLifetime)
        {
            throw new InvalidValueException(nameof(ExpiresAt), "A token expires in the future and within a year.");
        }
        return new AccessToken(Guid.NewGuid(), trimmed, owner, scopes, prefix, secretHash, createdBy, now, expiresAt);
    }

    public static ApiScopes All => Enum.GetValues<ApiScopes>().Aggregate(ApiScopes.None, (all, s) => all | s);

    public bool IsUsableAt(DateTimeOffset at) => RevokedAt is null && at < ExpiresAt;

    public bool Allows(ApiScopes scope) => (Scopes & scope) == scope;

    public void Revoke(Username by, DateTimeOffset at)
    {
        if (RevokedAt is not null)
        {
            throw new InvalidTransitionException(nameof(AccessToken), "Revoked", "Revoked");
        }
        RevokedAt = at;
        RevokedBy = by;
    }

    /// <summary>Noted at most once a minute per token, so a busy script does not write on every call.</summary>
    public bool NoteUse(DateTimeOffset at)
    {
        if (LastUsedAt is { } last && at - last < TimeSpan.FromMinutes(1))
        {
            return false;
        }
        LastUsedAt = at;
        return true;
    }
}
