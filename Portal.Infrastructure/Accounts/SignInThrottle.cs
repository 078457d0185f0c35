using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Accounts;

/// <summary>The <c>Passwords:Throttle</c> configuration section.</summary>
public sealed class SignInThrottleOptions
{
    public const string Section = "Passwords:Throttle";

    /// <summary>How long a failure counts.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Failures in the window that cost no wait; each one after doubles the wait, starting at <see cref="FirstDelay"/>.</summary>
    [Range(0, 100)]
    public int FreeFailures { get; set; } = 3;

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan FirstDelay { get; set; } = TimeSpan.FromSeconds(2);

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The free failures of a source address, which many people can share behind a campus NAT; null takes
    /// <see cref="FreeFailures"/>.
    /// </summary>
    [Range(0, 10_000)]
    public int? AddressFreeFailures { get; set; }

    /// <summary>
    /// This many failures from one address in the window lock the address out until the oldest of them leaves the
    /// window. Accounts have no lockout here: theirs is the directory's password policy.
    /// </summary>
    [Range(1, 10_000)]
    public int AddressLockoutFailures { get; set; } = 10;
}

/// <summary>Whether an attempt may go ahead now; when not, how long until it may.</summary>
/// <param name="RetryAfter">How long until an attempt is accepted; zero or less: now.</param>
/// <param name="LockedOut">The address is locked out (not just made to wait).</param>
public sealed record ThrottleDecision(TimeSpan RetryAfter, bool LockedOut)
{
    public static ThrottleDecision Allowed { get; } = new(TimeSpan.Zero, false);

    public bool IsAllowed => RetryAfter <= TimeSpan.Zero;

    /// <summary>The account's own recent failures refuse the attempt (whatever the address's say).</summary>
    public bool AccountWaits { get; init; }
}

/// <summary>
/// Slows down password guessing without ever sleeping: failed sign-ins and failed current-password checks are
/// counted per account and per source address in <c>sign_in_failures</c>. After <see cref="SignInThrottleOptions.FreeFailures"/>
/// failures in the window, the next attempt is refused until the last failure plus a delay that doubles with each
/// failure (2, 4, 8 … s, capped at a minute); <see cref="SignInThrottleOptions.AddressLockoutFailures"/> failures from
/// one address refuse every attempt from it until the oldest of them leaves the window. Nothing is permanent. A refused
/// attempt never has its password checked. An account's lockout is not counted here but by the directory's password
/// policy, so that there is one lockout with one set of figures (docs/decisions/0014-ldap-lockout-and-tls.md).
/// </summary>
public sealed class SignInThrottle(IDbContextFactory<PortalDbContext> contexts, TimeProvider clock, IOptions<SignInThrottleOptions> options)
{
    private readonly SignInThrottleOptions _options = options.Value;

    /// <summary>The decision for an attempt on <paramref name="account"/> from <paramref name="sourceAddress"/>: the stricter of the two.</summary>
    public async Task<ThrottleDecision> CheckAsync(Username account, string? sourceAddress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        var now = clock.GetUtcNow();
        var since = now - _options.Window;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var byAccount = await FailuresAsync(db, SignInFailureRecord.AccountScope, account.Value, since, cancellationToken);
        var decision = Decide(byAccount, _options.FreeFailures, lockoutFailures: null, now);
        var accountWaits = !decision.IsAllowed;
        if (Subject(sourceAddress) is { } address)
        {
            var byAddress = await FailuresAsync(db, SignInFailureRecord.AddressScope, address, since, cancellationToken);
            var addressDecision = Decide(byAddress, _options.AddressFreeFailures ?? _options.FreeFailures,
                _options.AddressLockoutFailures, now);
            if (addressDecision.RetryAfter > decision.RetryAfter)
            {
                decision = addressDecision;
            }
        }
        return accountWaits ? decision with { AccountWaits = true } : decision;
    }

    /// <summary>Counts a failure against the account and the address; forgets their failures that left the window.</summary>
    public async Task RecordFailureAsync(Username account, string? sourceAddress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        var now = clock.GetUtcNow();
        var expired = now - _options.Window;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.SignInFailures.Add(new SignInFailureRecord { Scope = SignInFailureRecord.AccountScope, Subject = account.Value, FailedAt = now });
        var address = Subject(sourceAddress);
        if (address is not null)
        {
            db.SignInFailures.Add(new SignInFailureRecord { Scope = SignInFailureRecord.AddressScope, Subject = address, FailedAt = now });
        }
        await db.SaveChangesAsync(cancellationToken);
        await db.SignInFailures
            .Where(f => f.FailedAt <= expired
                && ((f.Scope == SignInFailureRecord.AccountScope && f.Subject == account.Value)
                    || (f.Scope == SignInFailureRecord.AddressScope && f.Subject == address)))
            .ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>The person proved their password: their account starts afresh. The address keeps its count.</summary>
    public async Task ClearAsync(Username account, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.SignInFailures
            .Where(f => f.Scope == SignInFailureRecord.AccountScope && f.Subject == account.Value)
            .ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>The wait after <paramref name="failures"/> failures in the window, before the lockout.</summary>
    public TimeSpan DelayAfter(int failures) => DelayAfter(failures, _options.FreeFailures);

    private TimeSpan DelayAfter(int failures, int freeFailures)
    {
        var extra = failures - freeFailures;
        if (extra <= 0)
        {
            return TimeSpan.Zero;
        }
        // 2^(extra-1) × FirstDelay, without overflowing for large counts.
        var doublings = Math.Min(extra - 1, 30);
        var delay = _options.FirstDelay * (1L << doublings);
        return delay < _options.MaxDelay ? delay : _options.MaxDelay;
    }

    private ThrottleDecision Decide(List<DateTimeOffset> failures, int freeFailures, int? lockoutFailures, DateTimeOffset now)
    {
        if (failures.Count >= lockoutFailures)
        {
            // Locked until enough failures have left the window that fewer than the limit remain.
            var until = failures[failures.Count - lockoutFailures.Value] + _options.Window;
            return until > now ? new ThrottleDecision(until - now, LockedOut: true) : ThrottleDecision.Allowed;
        }
        if (failures.Count == 0)
        {
            return ThrottleDecision.Allowed;
        }
        var next = failures[^1] + DelayAfter(failures.Count, freeFailures);
        return next > now ? new ThrottleDecision(next - now, LockedOut: false) : ThrottleDecision.Allowed;
    }

    private static Task<List<DateTimeOffset>> FailuresAsync(PortalDbContext db, string scope, string subject, DateTimeOffset since,
        CancellationToken cancellationToken) =>
        db.SignInFailures.AsNoTracking()
            .Where(f => f.Scope == scope && f.Subject == subject && f.FailedAt > since)
            .OrderBy(f => f.FailedAt)
            .Select(f => f.FailedAt)
            .ToListAsync(cancellationToken);

    /// <summary>The address as stored (the column holds 64 characters; an IPv6 address with a zone fits).</summary>
    private static string? Subject(string? sourceAddress) =>
        string.IsNullOrWhiteSpace(sourceAddress) ? null
        : sourceAddress.Length > 64 ? sourceAddress[..64]
        : sourceAddress;
}
