using System.Globalization;
using System.Text;

namespace Portal.Domain.Accounts;

/// <summary>Why a new password was refused; the first rule it broke, in the order of this enum.</summary>
public enum PasswordRejection
{
    /// <summary>Fewer characters than <see cref="PasswordPolicy.MinimumLength"/>.</summary>
    TooShort,

    /// <summary>More characters than <see cref="PasswordPolicy.MaximumLength"/>.</summary>
    TooLong,

    /// <summary>On the list of passwords that attackers try first.</summary>
    Common,

    /// <summary>A repeat of a few characters ("aaaaaaaaaaaa", "abcabcabcabc") or a run of neighbours ("abcdefghijkl", "987654321098").</summary>
    Predictable,

    /// <summary>Contains the person's username.</summary>
    ContainsUsername,

    /// <summary>Contains a part of the person's name (at least <see cref="PasswordPolicy.MinimumNamePartLength"/> characters).</summary>
    ContainsName,

    /// <summary>The new password is the current one.</summary>
    SameAsCurrent,
}

/// <summary>The verdict on a new password; a closed set of results.</summary>
public abstract record PasswordVerdict
{
    private PasswordVerdict()
    {
    }

    public static PasswordVerdict Accept { get; } = new Accepted();

    public sealed record Accepted : PasswordVerdict;

    public sealed record Rejected(PasswordRejection Reason) : PasswordVerdict;
}

/// <summary>
/// The portal's rules for a new password, after NIST SP 800-63B: long enough, not absurdly long, no composition
/// rules (spaces and any Unicode are welcome), and not guessable: not on a list of common passwords, not a repeat or a
/// run of neighbouring characters, and not made from who the person is. Length counts user-perceived characters
/// (Unicode text elements) after <see cref="PasswordText.Normalize"/>, so "é" is one character however it was typed,
/// and a Japanese or emoji password is as long as it looks.
/// </summary>
public sealed class PasswordPolicy
{
    public const int DefaultMinimumLength = 12;
    public const int MaximumLength = 128;

    /// <summary>Shorter parts of a name (given names such as "Li", initials) are not checked.</summary>
    public const int MinimumNamePartLength = 3;

    /// <summary>A password that is one unit of up to this many characters repeated is predictable; longer repeated units
    /// ("purple tiger purple tiger") are phrases, judged by their length like any other.</summary>
    public const int MaximumRepeatedUnit = 4;

    // A text element can be several UTF-16 units (emoji with modifiers); beyond this many units the answer is
    // TooLong without looking further, so a megabyte of input costs nothing.
    private const int MaximumUtf16Length = MaximumLength * 16;

    private readonly IReadOnlySet<string> _commonPasswords;

    /// <param name="commonPasswords">Lowercase common passwords; a candidate is looked up lowercased.</param>
    /// <param name="minimumLength">At least 8 (NIST's floor) and at most <see cref="MaximumLength"/>.</param>
    public PasswordPolicy(IReadOnlySet<string> commonPasswords, int minimumLength = DefaultMinimumLength)
    {
        ArgumentNullException.ThrowIfNull(commonPasswords);
        ArgumentOutOfRangeException.ThrowIfLessThan(minimumLength, 8);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minimumLength, MaximumLength);
        _commonPasswords = commonPasswords;
        MinimumLength = minimumLength;
    }

    public int MinimumLength { get; }

    /// <summary>Checks a new password for the person; the first broken rule, in the order of <see cref="PasswordRejection"/>.</summary>
    /// <param name="newPassword">As typed; normalised here.</param>
    /// <param name="username">Whose password it is.</param>
    /// <param name="displayName">The person's name as the portal knows it, if any.</param>
    /// <param name="currentPassword">The password it replaces, when the person typed it.</param>
    public PasswordVerdict Check(string newPassword, Username username, string? displayName, string? currentPassword = null)
    {
        ArgumentNullException.ThrowIfNull(newPassword);
        ArgumentNullException.ThrowIfNull(username);
        if (newPassword.Length > MaximumUtf16Length)
        {
            return new PasswordVerdict.Rejected(PasswordRejection.TooLong);
        }

        var candidate = PasswordText.Normalize(newPassword);
        var length = new StringInfo(candidate).LengthInTextElements;
        if (length < MinimumLength)
        {
            return new PasswordVerdict.Rejected(PasswordRejection.TooShort);
        }
        if (length > MaximumLength)
        {
            return new PasswordVerdict.Rejected(PasswordRejection.TooLong);
        }
        if (_commonPasswords.Contains(candidate.ToLowerInvariant()))
        {
            return new PasswordVerdict.Rejected(PasswordRejection.Common);
        }
        if (IsPredictable(candidate))
        {
            return new PasswordVerdict.Rejected(PasswordRejection.Predictable);
        }
        if (candidate.Contains(username.Value, StringComparison.OrdinalIgnoreCase))
        {
            return new PasswordVerdict.Rejected(PasswordRejection.ContainsUsername);
        }
        if (displayName is not null && NameParts(displayName).Any(part => candidate.Contains(part, StringComparison.OrdinalIgnoreCase)))
        {
            return new PasswordVerdict.Rejected(PasswordRejection.ContainsName);
        }
        if (currentPassword is not null && string.Equals(candidate, PasswordText.Normalize(currentPassword), StringComparison.Ordinal))
        {
            return new PasswordVerdict.Rejected(PasswordRejection.SameAsCurrent);
        }
        return PasswordVerdict.Accept;
    }

    /// <summary>
    /// True when the whole password follows a pattern an attacker enumerates first: the same unit of at most
    /// <see cref="MaximumRepeatedUnit"/> characters over and over (a trailing part of it included), or every character a
    /// neighbour of the one before (the same, one up or one down: "aaaaaaaaaaab", "abcdefghijkl", "123456789012" with 9
    /// wrapping to 0). Compared without case, by user-perceived character.
    /// </summary>
    private static bool IsPredictable(string candidate)
    {
        var elements = TextElements(candidate.ToLowerInvariant());
        for (var unit = 1; unit <= MaximumRepeatedUnit && unit < elements.Count; unit++)
        {
            if (Enumerable.Range(unit, elements.Count - unit).All(i => string.Equals(elements[i], elements[i - unit], StringComparison.Ordinal)))
            {
                return true;
            }
        }
        return Enumerable.Range(1, elements.Count - 1).All(i => AreNeighbours(elements[i - 1], elements[i]));
    }

    private static bool AreNeighbours(string previous, string next)
    {
        if (!Rune.TryGetRuneAt(previous, 0, out var a) || !Rune.TryGetRuneAt(next, 0, out var b)
            || a.Utf16SequenceLength != previous.Length || b.Utf16SequenceLength != next.Length)
        {
            // A character with combining marks or an emoji sequence: not part of a keyboard run.
            return false;
        }
        var step = b.Value - a.Value;
        return step is -1 or 0 or 1 || (a.Value, b.Value) is ('9', '0') or ('0', '9');
    }

    private static List<string> TextElements(string text)
    {
        var elements = new List<string>(text.Length);
        var enumerator = StringInfo.GetTextElementEnumerator(text);
        while (enumerator.MoveNext())
        {
            elements.Add(enumerator.GetTextElement());
        }
        return elements;
    }

    /// <summary>The words of a name: runs of letters and digits (and combining marks), at least three characters long.</summary>
    private static IEnumerable<string> NameParts(string displayName)
    {
        var name = PasswordText.Normalize(displayName);
        var start = -1;
        for (var i = 0; i <= name.Length; i++)
        {
            var inWord = i < name.Length && IsWordCharacter(name, i);
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                var part = name[start..i];
                if (new StringInfo(part).LengthInTextElements >= MinimumNamePartLength)
                {
                    yield return part;
                }
                start = -1;
            }
        }
    }

    private static bool IsWordCharacter(string text, int index) =>
        char.IsLetterOrDigit(text, index) || char.IsSurrogate(text[index])
        || CharUnicodeInfo.GetUnicodeCategory(text, index) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark;
}
