using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Onboarding;

/// <summary>
/// The one-time link that shows a new account's username and initial password. The password is kept only in
/// protected (encrypted) form, only until the link is opened, and never in clear text anywhere.
/// </summary>
public sealed class CredentialLink
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(7);

    private CredentialLink(Guid id, Guid? applicationId, Username username, string tokenHash, string protectedPassword, DateTimeOffset createdAt)
    {
        Id = id;
        ApplicationId = applicationId;
        Username = username;
        TokenHash = tokenHash;
        ProtectedPassword = protectedPassword;
        CreatedAt = createdAt;
        ExpiresAt = createdAt + Lifetime;
    }

    public Guid Id { get; private set; }
    /// <summary>The application of a new account's first link; null for a link issued by a password reset.</summary>
    public Guid? ApplicationId { get; private set; }
    public Username Username { get; private set; }

    /// <summary>SHA-256 of the secret in the link.</summary>
    public string TokenHash { get; private set; }

    /// <summary>The initial password, encrypted by the portal's data protection keys; null once revealed.</summary>
    public string? ProtectedPassword { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset ExpiresAt { get; private set; }

    /// <summary>When the password was written to LDAP; until then a rerun of provisioning writes it (again).</summary>
    public DateTimeOffset? PasswordSetAt { get; private set; }

    public DateTimeOffset? RevealedAt { get; private set; }

    public static CredentialLink Issue(Guid applicationId, Username username, string tokenHash, string protectedPassword, DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenHash);
        ArgumentException.ThrowIfNullOrWhiteSpace(protectedPassword);
        return new CredentialLink(Guid.NewGuid(), applicationId, username, tokenHash, protectedPassword, at);
    }

    /// <summary>A new password issued by an administrator for an existing account (no application needed).</summary>
    public static CredentialLink IssueReset(Username username, string tokenHash, string protectedPassword, DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenHash);
        ArgumentException.ThrowIfNullOrWhiteSpace(protectedPassword);
        return new CredentialLink(Guid.NewGuid(), null, username, tokenHash, protectedPassword, at);
    }

    /// <summary>A later reset replaced this link before it was used: it shows nothing any more.</summary>
    public void Supersede(DateTimeOffset at)
    {
        if (RevealedAt is null && ExpiresAt > at)
        {
            ProtectedPassword = null;
            ExpiresAt = at;
        }
    }

    public void MarkPasswordSet(DateTimeOffset at) => PasswordSetAt ??= at;

    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    /// <summary>Hands out the protected password once; afterwards only the fact that it was opened remains.</summary>
    public string Reveal(DateTimeOffset at)
    {
        if (RevealedAt is not null || ProtectedPassword is null)
        {
            throw new DomainException("This link has already been used.");
        }
        if (IsExpired(at))
        {
            throw new DomainException("This link has expired.");
        }
        if (PasswordSetAt is null)
        {
            throw new DomainException("The account is still being set up.");
        }
        var secret = ProtectedPassword;
        ProtectedPassword = null;
        RevealedAt = at;
        return secret;
    }
}
