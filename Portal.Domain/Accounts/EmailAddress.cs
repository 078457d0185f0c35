using System.Diagnostics.CodeAnalysis;
using Portal.Domain.Common;

namespace Portal.Domain.Accounts;

/// <summary>An email address, kept as given but compared without case; the domain part is lowercased.</summary>
public sealed record EmailAddress
{
    public const int MaxLength = 254;

    private EmailAddress(string value) => Value = value;

    public string Value { get; }

    public string Domain => Value[(Value.LastIndexOf('@') + 1)..];

    /// <summary>The address lowercased: what addresses are compared by (none of the university's mail systems treats case as meaningful).</summary>
    public string Canonical => Value.ToLowerInvariant();

    public static EmailAddress Parse(string? candidate) =>
        TryParse(candidate, out var email)
            ? email
            : throw new InvalidValueException(nameof(EmailAddress), "This is not a valid email address.");

    public static bool TryParse(string? candidate, [NotNullWhen(true)] out EmailAddress? email)
    {
        email = null;
        if (string.IsNullOrWhiteSpace(candidate) || candidate.Length > MaxLength)
        {
            return false;
        }
        var trimmed = candidate.Trim();
        var at = trimmed.LastIndexOf('@');
        if (at <= 0 || at == trimmed.Length - 1 || trimmed.IndexOf('@') != at)
        {
            return false;
        }
        var local = trimmed[..at];
        var domain = trimmed[(at + 1)..].ToLowerInvariant();
        if (local.Length > 64 || !domain.Contains('.') || domain.StartsWith('.') || domain.EndsWith('.') || domain.Contains(".."))
        {
            return false;
        }
        foreach (var ch in trimmed)
        {
            // Only printable ASCII without spaces or the characters that break LDAP filters and mail headers.
            if (ch <= ' ' || ch >= 0x7f || ch is '(' or ')' or '*' or '\\' or '<' or '>' or ',' or ';' or ':' or '"' or '[' or ']')
            {
                return false;
            }
        }
        email = new EmailAddress($"{local}@{domain}");
        return true;
    }

    public override string ToString() => Value;
}
