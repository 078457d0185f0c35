using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Api;
using Portal.Domain.Common;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Api;

/// <summary>The one moment a token exists in clear: returned to the admin who created it, never stored.</summary>
public sealed record IssuedToken(AccessToken Token, string Secret);

public abstract record IssueResult
{
    private IssueResult()
    {
    }

    public sealed record Issued(IssuedToken Token) : IssueResult;

    /// <summary><paramref name="HasControlCharacters"/>: refused for control characters (<see cref="InvalidValueException.HasControlCharacters"/>).</summary>
    public sealed record Invalid(string Field, string Message, bool HasControlCharacters = false) : IssueResult;

    /// <summary>The owner named has no account in the portal (they have never signed in or been provisioned).</summary>
    public sealed record UnknownOwner : IssueResult;
}

/// <summary>Who a presented token acts as, when it is good.</summary>
public sealed record TokenIdentity(Guid TokenId, string TokenName, Account Owner, ApiScopes Scopes);

/// <summary>Issues, lists, revokes and checks personal access tokens (docs/decisions/0011-rest-api.md).</summary>
public sealed class AccessTokenService(IDbContextFactory<PortalDbContext> contexts, AuditLog audit, TimeProvider clock)
{
    /// <summary>Every token starts with this, so a leaked one is easy to find in a repository or log.</summary>
    public const string TokenPrefix = "gjp_";

    public async Task<IssueResult> IssueAsync(string? ownerName, string? name, ApiScopes scopes, DateTimeOffset expiresAt,
        AuditActor admin, CancellationToken cancellationToken)
    {
        if (!Username.TryParse(ownerName?.Trim(), out var owner))
        {
            return new IssueResult.Invalid(nameof(AccessToken.Owner), "The owner is not a valid username.");
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (!await db.Accounts.AnyAsync(a => a.Username == owner, cancellationToken))
        {
            return new IssueResult.UnknownOwner();
        }
        var secret = TokenPrefix + SecretTokens.NewToken();
        AccessToken token;
        try
        {
            token = AccessToken.Issue(name, owner, scopes, secret[..12], SecretTokens.Hash(secret), Username.Parse(admin.Name),
                clock.GetUtcNow(), expiresAt);
        }
        catch (InvalidValueException e)
        {
            return new IssueResult.Invalid(e.Field, e.Message, e.HasControlCharacters);
        }
        db.AccessTokens.Add(token);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(admin, "admin.token.create", owner.Value,
            new { token = token.Id, token.Name, scopes = token.Scopes.ToString(), token.ExpiresAt, token.Prefix }, cancellationToken);
        return new IssueResult.Issued(new IssuedToken(token, secret));
    }

    public async Task<(IReadOnlyList<AccessToken> Items, int Total)> PageAsync(string? owner, bool includeInactive, int offset, int limit,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = db.AccessTokens.AsNoTracking();
        if (Username.TryParse(owner?.Trim(), out var username))
        {
            q = q.Where(t => t.Owner == username);
        }
        else if (!string.IsNullOrWhiteSpace(owner))
        {
            return ([], 0);
        }
        if (!includeInactive)
        {
            var now = clock.GetUtcNow();
            q = q.Where(t => t.RevokedAt == null && t.ExpiresAt > now);
        }
        var total = await q.CountAsync(cancellationToken);
        var items = await q.OrderByDescending(t => t.CreatedAt).ThenBy(t => t.Id)
            .Skip(Math.Max(0, offset)).Take(Math.Clamp(limit, 1, 200)).ToListAsync(cancellationToken);
        return (items, total);
    }

    /// <summary>False when there is no such token or it was already revoked (nothing changes then).</summary>
    public async Task<bool> RevokeAsync(Guid id, AuditActor admin, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var token = await db.AccessTokens.SingleOrDefaultAsync(t => t.Id == id, cancellationToken);
        if (token is null || token.RevokedAt is not null)
        {
            return false;
        }
        token.Revoke(Username.Parse(admin.Name), clock.GetUtcNow());
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(admin, "admin.token.revoke", token.Owner.Value, new { token = token.Id, token.Name, token.Prefix }, cancellationToken);
        return true;
    }

    /// <summary>
    /// The identity behind a presented token: null when it is unknown, revoked, expired, or its owner is suspended or
    /// gone. The owner's account is read on every call, so a role change or a suspension takes effect at once.
    /// </summary>
    public async Task<TokenIdentity?> AuthenticateAsync(string presented, CancellationToken cancellationToken)
    {
        if (!presented.StartsWith(TokenPrefix, StringComparison.Ordinal) || presented.Length > 100)
        {
            return null;
        }
        var hash = SecretTokens.Hash(presented);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var token = await db.AccessTokens.SingleOrDefaultAsync(t => t.SecretHash == hash, cancellationToken);
        var now = clock.GetUtcNow();
        if (token is null || !token.IsUsableAt(now))
        {
            return null;
        }
        var owner = await db.Accounts.AsNoTracking().SingleOrDefaultAsync(a => a.Username == token.Owner, cancellationToken);
        if (owner is null || owner.Status != AccountStatus.Active)
        {
            return null;
        }
        if (token.NoteUse(now))
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        return new TokenIdentity(token.Id, token.Name, owner, token.Scopes);
    }
}
