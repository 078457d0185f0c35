using System.Collections.Concurrent;
using System.DirectoryServices.Protocols;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// The account lockout is the directory's alone: ppolicy locks an entry after <c>pwdMaxFailure</c> failed binds within
/// <c>pwdFailureCountInterval</c> by writing <c>pwdAccountLockedTime</c>, and refuses its binds until
/// <c>pwdLockoutDuration</c> has passed since then. The portal reads that time and the duration of the policy that
/// applies to the entry, so it tells a locked account apart from a wrong password and says for how long, by the
/// directory's own figures (docs/decisions/0014-ldap-lockout-and-tls.md).
/// </summary>
public sealed partial class LdapDirectory
{
    private static readonly string[] PolicyAttributes = ["pwdLockout", "pwdLockoutDuration"];

    private static readonly string[] GeneralizedTimeFormats =
        ["yyyyMMddHHmmss'Z'", "yyyyMMddHHmmss.FFFFFF'Z'", "yyyyMMddHHmmss,FFFFFF'Z'"];

    private readonly ConcurrentDictionary<string, (LockoutPolicy Policy, DateTimeOffset ReadAt)> _policies =
        new(StringComparer.OrdinalIgnoreCase);

    /// <summary>What of a password policy entry decides whether, and how long, a locked entry stays locked.</summary>
    /// <param name="Enabled"><c>pwdLockout</c>: without it ppolicy ignores <c>pwdAccountLockedTime</c> altogether.</param>
    /// <param name="Duration"><c>pwdLockoutDuration</c>; zero locks until an administrator unlocks.</param>
    private sealed record LockoutPolicy(bool Enabled, TimeSpan Duration)
    {
        /// <summary>No policy entry: ppolicy then applies no lockout.</summary>
        public static LockoutPolicy None { get; } = new(false, TimeSpan.Zero);
    }

    /// <summary>The lock on <paramref name="entry"/> now, by the rules ppolicy applies at bind, or null.</summary>
    private DirectoryLock? LockOf(LdapConnection service, SearchResultEntry entry)
    {
        if (Value(entry, "pwdAccountLockedTime") is not { } lockedTime)
        {
            return null;
        }
        var policy = PolicyOf(service, entry);
        if (!policy.Enabled)
        {
            return null;
        }
        if (lockedTime == PermanentLock || policy.Duration == TimeSpan.Zero)
        {
            return new DirectoryLock(Until: null);
        }
        if (!DateTimeOffset.TryParseExact(lockedTime, GeneralizedTimeFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var lockedAt))
        {
            // ppolicy would not bind the entry either; without a time there is no end to tell.
            LogUnreadableLockTime(_logger, entry.DistinguishedName, lockedTime);
            return new DirectoryLock(Until: null);
        }
        // ppolicy keeps the stamp after it expires (until the next bind removes it): expired means unlocked.
        var until = lockedAt + policy.Duration;
        return until > _clock.GetUtcNow() ? new DirectoryLock(until) : null;
    }

    /// <summary>The policy named by the entry's <c>pwdPolicySubentry</c>, else the default one; read briefly cached.</summary>
    private LockoutPolicy PolicyOf(LdapConnection service, SearchResultEntry entry)
    {
        var dn = Value(entry, "pwdPolicySubentry") ?? _options.DefaultPasswordPolicyDn;
        var now = _clock.GetUtcNow();
        if (_policies.TryGetValue(dn, out var cached) && now - cached.ReadAt < TimeSpan.FromSeconds(_options.PasswordPolicyCacheSeconds))
        {
            return cached.Policy;
        }
        var policy = ReadPolicy(service, dn);
        _policies[dn] = (policy, now);
        return policy;
    }

    private LockoutPolicy ReadPolicy(LdapConnection service, string dn)
    {
        SearchResponse response;
        try
        {
            response = Send<SearchResponse>(service, new SearchRequest(dn, "(objectClass=pwdPolicy)", SearchScope.Base, PolicyAttributes));
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
        {
            LogPolicyMissing(_logger, dn);
            return LockoutPolicy.None;
        }
        if (response.Entries.Count == 0)
        {
            LogPolicyMissing(_logger, dn);
            return LockoutPolicy.None;
        }
        var policy = response.Entries[0];
        var enabled = string.Equals(Value(policy, "pwdLockout"), "TRUE", StringComparison.OrdinalIgnoreCase);
        var seconds = int.TryParse(Value(policy, "pwdLockoutDuration"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new LockoutPolicy(enabled, TimeSpan.FromSeconds(seconds));
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Password policy {PolicyDn} not found in the directory: no lockout assumed for the people it should apply to (check Ldap:DefaultPasswordPolicy)")]
    private static partial void LogPolicyMissing(ILogger logger, string policyDn);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pwdAccountLockedTime {Value} of {Dn} is not a generalized time; treated as locked")]
    private static partial void LogUnreadableLockTime(ILogger logger, string dn, string value);
}
