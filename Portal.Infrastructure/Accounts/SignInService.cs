using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Accounts;

public enum SignInFailure
{
    /// <summary>Username or password left empty; the directory was not asked.</summary>
    MissingCredentials,

    /// <summary>Not a well-formed username; the directory was not asked.</summary>
    MalformedUsername,

    /// <summary>Unknown user or wrong password: deliberately indistinguishable to the person.</summary>
    InvalidCredentials,

    /// <summary>
    /// The directory has locked the account: after too many failures (its password policy's lockout), for
    /// <see cref="SignInResult.Failed.RetryAfter"/> more; or, with no RetryAfter, until an administrator unlocks it.
    /// Whatever the password, it was not tried.
    /// </summary>
    Locked,

    DirectoryUnavailable,

    /// <summary>
    /// The account is suspended by an administrator; <see cref="SignInResult.Failed.Reason"/> carries the reason.
    /// Told after the throttle (so it cannot be probed quickly) and whatever the password, because LDAP refuses
    /// every bind of a locked entry alike.
    /// </summary>
    Suspended,

    /// <summary>Too many recent failures for this account or address; the directory was not asked. See <see cref="SignInResult.Failed.RetryAfter"/>.</summary>
    Throttled,
}

public abstract record SignInResult
{
    private SignInResult()
    {
    }

    public sealed record Succeeded(Account Account) : SignInResult;

    /// <param name="Failure">Why.</param>
    /// <param name="RetryAfter">For <see cref="SignInFailure.Throttled"/> and <see cref="SignInFailure.Locked"/>: how long until the
    /// next attempt is accepted (none for a lock that only an administrator lifts).</param>
    /// <param name="Reason">For <see cref="SignInFailure.Suspended"/>: the reason the administrator gave.</param>
    public sealed record Failed(SignInFailure Failure, TimeSpan? RetryAfter = null, string? Reason = null) : SignInResult;
}

/// <summary>
/// Checks a username and password against LDAP, keeps the account record in step, and audits the attempt.
/// Failures are counted by <see cref="SignInThrottle"/>; while it refuses, no password is tried. The account lockout
/// is the directory's (its password policy): a locked account is told so, with the directory's remaining time, and its
/// password is not tried either (docs/decisions/0014-ldap-lockout-and-tls.md).
/// </summary>
public sealed partial class SignInService(
    IDirectory directory,
    IDbContextFactory<PortalDbContext> contexts,
    AuditLog audit,
    TimeProvider clock,
    ILogger<SignInService> logger,
    SignInThrottle throttle)
{
    public async Task<SignInResult> SignInAsync(string? username, string? password, string? sourceAddress, CancellationToken cancellationToken)
    {
        var anonymous = AuditActor.Anonymous(sourceAddress);
        if (string.IsNullOrWhiteSpace(username) || string.IsNullOrEmpty(password))
        {
            return new SignInResult.Failed(SignInFailure.MissingCredentials);
        }
        if (!Username.TryParseTyped(username, out var name))
        {
            return new SignInResult.Failed(SignInFailure.MalformedUsername);
        }

        var decision = await throttle.CheckAsync(name, sourceAddress, cancellationToken);
        if (!decision.IsAllowed)
        {
            LogThrottled(logger, name.Value, sourceAddress, decision.RetryAfter, decision.LockedOut);
            // The portal's short wait after the failure that locked the account would hide the directory's lockout,
            // which lasts longer: tell that instead (a lookup by the service account; no password is tried). Only when
            // the account itself has failed lately: spraying many accounts from one address costs no LDAP round trips.
            if (decision.AccountWaits && await TimedLockOrNullAsync(name, cancellationToken) is { } locked)
            {
                return locked;
            }
            return new SignInResult.Failed(SignInFailure.Throttled, decision.RetryAfter);
        }

        // A suspended account is refused before LDAP is asked (the lock may not be written yet, and once it is,
        // LDAP's refusal says nothing about why).
        if (await SuspensionReasonAsync(name, cancellationToken) is { } reason)
        {
            await throttle.RecordFailureAsync(name, sourceAddress, cancellationToken);
            await audit.RecordAsync(anonymous, "auth.sign-in-refused", name.Value, new { reason = "Suspended" }, cancellationToken);
            return new SignInResult.Failed(SignInFailure.Suspended, Reason: reason);
        }

        DirectoryAuthentication outcome;
        try
        {
            outcome = await directory.AuthenticateAsync(name, PasswordText.Normalize(password), cancellationToken);
        }
        catch (DirectoryUnavailableException e)
        {
            LogDirectoryUnavailable(logger, e.Message);
            return new SignInResult.Failed(SignInFailure.DirectoryUnavailable);
        }

        switch (outcome)
        {
            case DirectoryAuthentication.Refused { Reason: SignInRefusal.Locked } locked:
                // No password was tried, so nothing to count: the directory's lock is the account's limit.
                await audit.RecordAsync(anonymous, "auth.sign-in-refused", name.Value,
                    new { reason = nameof(SignInRefusal.Locked), lockedUntil = locked.LockedUntil }, cancellationToken);
                return LockedResult(locked.LockedUntil);
            case DirectoryAuthentication.Refused refused:
                await throttle.RecordFailureAsync(name, sourceAddress, cancellationToken);
                await audit.RecordAsync(anonymous, "auth.sign-in-refused", name.Value,
                    new { reason = refused.Reason.ToString(), lockedUntil = refused.LockedUntil }, cancellationToken);
                // The failure that made the directory lock the account is told as the lock it caused.
                return refused.LockedUntil is { } until ? LockedResult(until) : new SignInResult.Failed(SignInFailure.InvalidCredentials);
            case DirectoryAuthentication.Succeeded succeeded:
                var account = await RecordSignInAsync(succeeded.User, cancellationToken);
                await throttle.ClearAsync(name, cancellationToken);
                await audit.RecordAsync(new AuditActor(name.Value, sourceAddress), "auth.sign-in", name.Value,
                    new { role = account.Role.ToString(), mustChangePassword = account.MustChangePassword }, cancellationToken);
                return new SignInResult.Succeeded(account);
            default:
                throw new InvalidOperationException($"Unknown directory outcome {outcome.GetType().Name}.");
        }
    }

    /// <summary>Locked until <paramref name="lockedUntil"/>, or, when null, until an administrator unlocks the account.</summary>
    private SignInResult.Failed LockedResult(DateTimeOffset? lockedUntil)
    {
        if (lockedUntil is not { } until)
        {
            return new SignInResult.Failed(SignInFailure.Locked);
        }
        // At least a second: the directory's stamp has whole seconds, and "0 seconds" would read as "now".
        var remaining = until - clock.GetUtcNow();
        return new SignInResult.Failed(SignInFailure.Locked, remaining > TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1));
    }

    /// <summary>The Locked result when the directory has the account locked for a while; null otherwise or when it cannot say.</summary>
    private async Task<SignInResult.Failed?> TimedLockOrNullAsync(Username name, CancellationToken cancellationToken)
    {
        try
        {
            return await directory.FindLockAsync(name, cancellationToken) is { Until: { } until } ? LockedResult(until) : null;
        }
        catch (DirectoryUnavailableException e)
        {
            LogDirectoryUnavailable(logger, e.Message);
            return null;
        }
    }

    /// <summary>The reason of the account's suspension, or null when it is not suspended (or not known yet).</summary>
    public async Task<string?> SuspensionReasonAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Accounts.AsNoTracking().Where(a => a.Username == username)
            .Select(a => new { a.Status, a.SuspensionReason }).SingleOrDefaultAsync(cancellationToken);
        return row is { Status: AccountStatus.Suspended } ? row.SuspensionReason ?? "-" : null;
    }

    private async Task<Account> RecordSignInAsync(DirectoryUser user, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        for (var attempt = 1; ; attempt++)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var account = await db.Accounts.SingleOrDefaultAsync(a => a.Username == user.Username, cancellationToken);
            if (account is null)
            {
                account = Account.FromDirectory(user, now);
                account.RecordSignIn(user, now);
                db.Accounts.Add(account);
            }
            else
            {
                account.RecordSignIn(user, now);
            }
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return account;
            }
            catch (DbUpdateException e) when (attempt == 1 && e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
            {
                // Two first sign-ins raced to create the record; the other one won, so update theirs.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sign-in of {Uid} from {Address} throttled for {RetryAfter} (locked out: {LockedOut})")]
    private static partial void LogThrottled(ILogger logger, string uid, string? address, TimeSpan retryAfter, bool lockedOut);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sign-in unavailable: {Reason}")]
    private static partial void LogDirectoryUnavailable(ILogger logger, string reason);
}
