using Microsoft.EntityFrameworkCore;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Onboarding;

public abstract record RevealResult
{
    private RevealResult()
    {
    }

    /// <summary>The only time the password leaves the portal; <see cref="IsReset"/> for an admin's reset of an existing account.</summary>
    public sealed record Revealed(string Username, string Password, bool IsReset = false) : RevealResult;

    public sealed record AlreadyUsed(DateTimeOffset RevealedAt) : RevealResult;

    public sealed record Expired : RevealResult;

    /// <summary>Provisioning has not written the password to LDAP yet; the link stays valid.</summary>
    public sealed record NotReady : RevealResult;

    public sealed record NotFound : RevealResult;
}

/// <summary>The one-time link of a new account: shows the username and initial password once, then never again.</summary>
public sealed class CredentialService(IDbContextFactory<PortalDbContext> contexts, CredentialIssuer credentials, TimeProvider clock)
{
    /// <summary>What the link would show, without using it up (mail scanners follow links; only a click reveals).</summary>
    public async Task<RevealResult> PeekAsync(string? token, CancellationToken cancellationToken)
    {
        var link = await FindAsync(token, cancellationToken);
        return link switch
        {
            null => new RevealResult.NotFound(),
            { RevealedAt: { } at } => new RevealResult.AlreadyUsed(at),
            _ when link.IsExpired(clock.GetUtcNow()) => new RevealResult.Expired(),
            { PasswordSetAt: null } => new RevealResult.NotReady(),
            _ => new RevealResult.Revealed(link.Username.Value, "", IsReset: link.ApplicationId is null),
        };
    }

    public async Task<RevealResult> RevealAsync(string? token, string? sourceAddress, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var hash = token is { Length: > 0 and <= 100 } ? SecretTokens.Hash(token) : null;
        var link = hash is null ? null : await db.CredentialLinks.SingleOrDefaultAsync(l => l.TokenHash == hash, cancellationToken);
        var now = clock.GetUtcNow();
        switch (link)
        {
            case null:
                return new RevealResult.NotFound();
            case { RevealedAt: { } at }:
                return new RevealResult.AlreadyUsed(at);
            default:
                break;
        }
        // Expired first: a link superseded by a later password reset is expired even if its password was never set.
        if (link.IsExpired(now))
        {
            return new RevealResult.Expired();
        }
        if (link.PasswordSetAt is null)
        {
            return new RevealResult.NotReady();
        }
        var protectedPassword = link.Reveal(now);
        AuditLog.Stage(db, new AuditActor(link.Username.Value, sourceAddress), "account.credentials-revealed",
            link.ApplicationId is { } applicationId ? ProvisioningService.ApplicationTarget(applicationId) : link.Username.Value, null, now);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return new RevealResult.AlreadyUsed(now);
        }
        var password = credentials.Unprotect(protectedPassword);
        return new RevealResult.Revealed(link.Username.Value, password, IsReset: link.ApplicationId is null);
    }

    private async Task<CredentialLink?> FindAsync(string? token, CancellationToken cancellationToken)
    {
        if (token is not { Length: > 0 and <= 100 })
        {
            return null;
        }
        var hash = SecretTokens.Hash(token);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.CredentialLinks.AsNoTracking().SingleOrDefaultAsync(l => l.TokenHash == hash, cancellationToken);
    }
}
