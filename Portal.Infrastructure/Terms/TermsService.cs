using Microsoft.EntityFrameworkCore;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Terms;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Terms;

/// <summary>One row of "who accepted which version".</summary>
public sealed record TermsAcceptanceRow(string Username, string? DisplayName, int Version, DateTimeOffset AcceptedAt, string? SourceAddress);

/// <summary>The terms of service: the version in force, acceptance, publishing a new version.</summary>
public sealed class TermsService(IDbContextFactory<PortalDbContext> contexts, TimeProvider clock)
{
    // Every request of a signed-in person asks for the current version; a short cache keeps that off the database.
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(15);
    private (TermsVersion Terms, DateTimeOffset Until)? _cached;

    public async Task<TermsVersion> CurrentAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (_cached is { } cached && cached.Until > now)
        {
            return cached.Terms;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var current = await db.TermsVersions.AsNoTracking().OrderByDescending(t => t.Version).FirstOrDefaultAsync(cancellationToken)
            ?? throw new InvalidOperationException("No terms of service are published (migration 0004 seeds version 1).");
        _cached = (current, now + CacheFor);
        return current;
    }

    public async Task<TermsVersion?> FindAsync(int version, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.TermsVersions.AsNoTracking().SingleOrDefaultAsync(t => t.Version == version, cancellationToken);
    }

    /// <summary>Records that <paramref name="username"/> accepted <paramref name="version"/>; accepting twice is one record.</summary>
    public async Task<Account> AcceptAsync(Username username, int version, string? sourceAddress, CancellationToken cancellationToken)
    {
        var current = await CurrentAsync(cancellationToken);
        if (version != current.Version)
        {
            throw new Domain.Common.DomainException($"Version {version} is not the terms in force (version {current.Version}).");
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var account = await db.Accounts.SingleAsync(a => a.Username == username, cancellationToken);
        var now = clock.GetUtcNow();
        account.AcceptTerms(version);
        if (!await db.TermsAcceptances.AnyAsync(a => a.Username == username && a.Version == version, cancellationToken))
        {
            db.TermsAcceptances.Add(TermsAcceptance.Record(username, version, now, sourceAddress));
            AuditLog.Stage(db, new AuditActor(username.Value, sourceAddress), "terms.accepted", $"terms:{version}", new { version }, now);
        }
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            // The same person accepted in another tab at the same moment: one record is what we want.
        }
        return account;
    }

    public async Task<TermsVersion> PublishAsync(Username publisher, string textEn, string textJa, string? sourceAddress, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var latest = await db.TermsVersions.OrderByDescending(t => t.Version).FirstOrDefaultAsync(cancellationToken);
        var next = TermsVersion.Publish(latest, publisher, textEn, textJa, clock.GetUtcNow());
        db.TermsVersions.Add(next);
        AuditLog.Stage(db, new AuditActor(publisher.Value, sourceAddress), "terms.published", $"terms:{next.Version}",
            new { version = next.Version }, next.PublishedAt);
        await db.SaveChangesAsync(cancellationToken);
        _cached = null;
        return next;
    }

    public async Task<IReadOnlyList<TermsVersion>> VersionsAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.TermsVersions.AsNoTracking().OrderByDescending(t => t.Version).ToListAsync(cancellationToken);
    }

    /// <summary>Who accepted which version, newest first, filtered and paged in the database.</summary>
    public async Task<(IReadOnlyList<TermsAcceptanceRow> Items, int Total)> AcceptancesAsync(
        int? version, string? search, int skip, int take, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var acceptances = db.TermsAcceptances.AsNoTracking();
        // A search box's text: control characters (PostgreSQL refuses NUL) are dropped, as the pages' filter boxes do.
        search = Domain.Common.ControlCharacters.Remove(search);
        if (!string.IsNullOrWhiteSpace(search))
        {
            var pattern = $"%{Like.Escape(search.Trim())}%";
            acceptances = db.TermsAcceptances.FromSql($"""
                SELECT t.* FROM terms_acceptances t
                WHERE t.username ILIKE {pattern} ESCAPE '\'
                   OR t.username IN (SELECT username FROM accounts WHERE display_name ILIKE {pattern} ESCAPE '\')
                """).AsNoTracking();
        }
        var query = from a in acceptances
                    join account in db.Accounts.AsNoTracking() on a.Username equals account.Username into accounts
                    from account in accounts.DefaultIfEmpty()
                    select new { a, DisplayName = account == null ? null : account.DisplayName };
        if (version is { } v)
        {
            query = query.Where(x => x.a.Version == v);
        }
        var total = await query.CountAsync(cancellationToken);
        var rows = await query.OrderByDescending(x => x.a.AcceptedAt).ThenByDescending(x => x.a.Version).ThenBy(x => x.a.Id).Skip(skip).Take(take)
            .Select(x => new { x.a.Username, x.DisplayName, x.a.Version, x.a.AcceptedAt, x.a.SourceAddress })
            .ToListAsync(cancellationToken);
        return ([.. rows.Select(r => new TermsAcceptanceRow(r.Username.Value, r.DisplayName, r.Version, r.AcceptedAt, r.SourceAddress))], total);
    }
}
