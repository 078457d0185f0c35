using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Portal.Domain.Common;

namespace Portal.Domain.Accounts;

/// <summary>
/// A login name as LDAP, Unix and every spawner backend accept it: a lowercase letter, then 1–31 lowercase
/// letters, digits, '_' or '-'. Checked before any directory call, so no filter or DN metacharacter can reach LDAP.
/// </summary>
public sealed partial record Username
{
    public const int MaxLength = 32;

    private Username(string value) => Value = value;

    public string Value { get; }

    public static Username Parse(string? candidate) =>
        TryParse(candidate, out var username)
            ? username
            : throw new InvalidValueException(nameof(Username),
                "A username starts with a lowercase letter and has 2 to 32 lowercase letters, digits, '_' or '-'.");

    public static bool TryParse(string? candidate, [NotNullWhen(true)] out Username? username)
    {
        username = candidate is not null && Pattern().IsMatch(candidate) ? new Username(candidate) : null;
        return username is not null;
    }

    /// <summary>
    /// A username as a person typed it to sign in: surrounding spaces and ASCII capitals are forgiven, nothing else.
    /// Anything outside ASCII is refused rather than case-mapped or normalised: "\u212Aim" (KELVIN SIGN) lowercases to
    /// "kim", and fullwidth "ｋｉｍ" becomes "kim" under NFKC, so folding them would let another spelling stand for kim.
    /// </summary>
    public static bool TryParseTyped(string? typed, [NotNullWhen(true)] out Username? username)
    {
        username = null;
        var trimmed = typed?.Trim();
        // With only ASCII left, invariant lowercasing maps A–Z and nothing else.
        return trimmed is not null && System.Text.Ascii.IsValid(trimmed) && TryParse(trimmed.ToLowerInvariant(), out username);
    }

    public override string ToString() => Value;

    // \z, not $: $ would accept a trailing newline.
    [GeneratedRegex(@"^[a-z][a-z0-9_-]{1,31}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
