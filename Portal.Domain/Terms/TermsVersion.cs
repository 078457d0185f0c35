using Portal.Domain.Accounts;

namespace Portal.Domain.Terms;

/// <summary>One published version of the terms of service, in English and Japanese Markdown. Never edited.</summary>
public sealed class TermsVersion
{
    public const int TextMax = 50_000;

    private TermsVersion(int version, DateTimeOffset publishedAt, string publishedBy, string textEn, string textJa)
    {
        Version = version;
        PublishedAt = publishedAt;
        PublishedBy = publishedBy;
        TextEn = textEn;
        TextJa = textJa;
    }

    public int Version { get; private set; }
    public DateTimeOffset PublishedAt { get; private set; }
    public string PublishedBy { get; private set; }
    public string TextEn { get; private set; }
    public string TextJa { get; private set; }

    /// <summary>The next version after <paramref name="current"/> (null: the first).</summary>
    public static TermsVersion Publish(TermsVersion? current, Username publisher, string textEn, string textJa, DateTimeOffset at)
    {
        if (string.IsNullOrWhiteSpace(textEn) || string.IsNullOrWhiteSpace(textJa))
        {
            throw new Common.InvalidValueException("Text", "Both the English and the Japanese text are required.");
        }
        if (textEn.Length > TextMax || textJa.Length > TextMax)
        {
            throw new Common.InvalidValueException("Text", $"Each text is at most {TextMax} characters.");
        }
        Common.ControlCharacters.ThrowIfContains(textEn, Common.ControlCharacters.Lines.Multiple, nameof(TextEn), "English text");
        Common.ControlCharacters.ThrowIfContains(textJa, Common.ControlCharacters.Lines.Multiple, nameof(TextJa), "Japanese text");
        return new TermsVersion((current?.Version ?? 0) + 1, at, publisher.Value, textEn.Trim(), textJa.Trim());
    }

    public string TextFor(string twoLetterLanguage) => twoLetterLanguage == "ja" ? TextJa : TextEn;
}

/// <summary>That a person accepted one version, when and from where.</summary>
public sealed class TermsAcceptance
{
    private TermsAcceptance(Username username, int version, DateTimeOffset acceptedAt, string? sourceAddress)
    {
        Username = username;
        Version = version;
        AcceptedAt = acceptedAt;
        SourceAddress = sourceAddress;
    }

    public long Id { get; private set; }
    public Username Username { get; private set; }
    public int Version { get; private set; }
    public DateTimeOffset AcceptedAt { get; private set; }
    public string? SourceAddress { get; private set; }

    public static TermsAcceptance Record(Username username, int version, DateTimeOffset at, string? sourceAddress) =>
        new(username, version, at, sourceAddress);
}
