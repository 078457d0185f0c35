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

    /// <summary>Unknown user, wrong password or locked account: deliberately indistinguishable to the person.</summary>
    InvalidCredentials,

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
    /// <param name="RetryAfter">For <see cref="SignInFailure.Throttled"/>: how long until the next attempt is accepted.</param>
    /// <param name="Reason">For <see cref="SignInFailure.Suspended"/>: the reason the administrator gave.</param>
    public sealed record Failed(SignInFailure Failure, TimeSpan? RetryAfter = null, string? Reason = null) : SignInResult;
}

/// <summary>
/// Checks a username and password against LDAP, keeps the account record in step, and audits the attempt.
/// Failures are counted by <see cref="SignInThrottle"/>; while it refuses, the directory is not asked.
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
        var anonymous = new AuditActor(Domain.Audit.AuditEvent.Anonymous, sourceAddress);
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
            case DirectoryAuthentication.Refused refused:
                await throttle.RecordFailureAsync(name, sourceAddress, cancellationToken);
                await audit.RecordAsync(anonymous, "auth.sign-in-refused", name.Value, new { reason = refused.Reason.ToString() }, cancellationToken);
                return new SignInResult.Failed(SignInFailure.InvalidCredentials);
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
