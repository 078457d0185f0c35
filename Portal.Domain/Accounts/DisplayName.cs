using System.Globalization;
using System.Text;

namespace Portal.Domain.Accounts;

/// <summary>Why a line of text about a person was refused; the first problem found.</summary>
public enum TextRefusal
{
    Required,
    TooLong,
    InvalidCharacters,
}

/// <summary>The outcome of checking a line of text: the text to keep, or why it was refused.</summary>
public readonly record struct TextCheck(string? Value, TextRefusal? Refusal)
{
    public bool IsValid => Refusal is null;
}

/// <summary>
/// The one rule for a person's name (and the other single-line texts people give about themselves, such as their
/// department), wherever it comes from: the application form and the bulk import both check with it. Any script and
/// ordinary punctuation are welcome, parentheses included ("山田 太郎 (Taro Yamada)"). Refused are what cannot be
/// seen or changes what is seen: control characters, invisible format characters (among them the bidi controls such
/// as U+202E, which make text display in another order than it is stored), line separators and unpaired surrogates;
/// and <c>* \ &lt; &gt;</c>, which have no place in a name and are wildcards or markup elsewhere. The text is trimmed
/// and kept in Unicode normal form C, so the same name typed on two keyboards is the same text.
/// </summary>
public static class DisplayName
{
    public const int MaxLength = 100;

    private const char ZeroWidthNonJoiner = '\u200C';
    private const char ZeroWidthJoiner = '\u200D';

    /// <param name="candidate">As typed or read from a file.</param>
    /// <param name="maxLength">At most this many UTF-16 units after trimming and normalisation (the column's size).</param>
    public static TextCheck Check(string? candidate, int maxLength = MaxLength)
    {
        var trimmed = candidate?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            return new TextCheck(null, TextRefusal.Required);
        }
        // A hostile megabyte is refused before normalisation looks at it.
        if (trimmed.Length > maxLength * 4)
        {
            return new TextCheck(null, TextRefusal.TooLong);
        }
        if (!HasOnlyAllowedCharacters(trimmed, multiline: false))
        {
            return new TextCheck(null, TextRefusal.InvalidCharacters);
        }
        var normalized = trimmed.Normalize(NormalizationForm.FormC);
        return normalized.Length > maxLength
            ? new TextCheck(null, TextRefusal.TooLong)
            : new TextCheck(normalized, null);
    }

    /// <summary>
    /// The character rule on its own, for longer free text too (<paramref name="multiline"/>: line breaks and tabs
    /// allowed, and <c>* \ &lt; &gt;</c>, which are ordinary in prose).
    /// </summary>
    public static bool HasOnlyAllowedCharacters(string text, bool multiline)
    {
        ArgumentNullException.ThrowIfNull(text);
        for (var i = 0; i < text.Length; i++)
        {
            var ch = text[i];
            if (char.IsHighSurrogate(ch) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                // A character outside the BMP: judged as one code point.
                if (!IsAllowed(CharUnicodeInfo.GetUnicodeCategory(text, i)))
                {
                    return false;
                }
                i++;
                continue;
            }
            if (char.IsSurrogate(ch))
            {
                return false;
            }
            if (multiline && ch is '\n' or '\r' or '\t')
            {
                continue;
            }
            if ((!multiline && ch is '*' or '\\' or '<' or '>') || (ch is not (ZeroWidthNonJoiner or ZeroWidthJoiner) && !IsAllowed(CharUnicodeInfo.GetUnicodeCategory(ch))))
            {
                return false;
            }
        }
        return true;
    }

    // Format covers the bidi embeddings, overrides, isolates and marks (U+202A–E, U+2066–9, U+200E/F, U+061C), zero-width
    // spaces and the BOM; the joiners that some scripts and emoji need are let through above.
    private static bool IsAllowed(UnicodeCategory category) =>
        category is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate);
}
