using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Announcements;

/// <summary>How loud an announcement is; the banner's colour follows it.</summary>
public enum AnnouncementSeverity
{
    Info,
    Warning,
    Critical,
}

/// <summary>
/// A notice every signed-in person sees between <see cref="StartsAt"/> and <see cref="EndsAt"/>, in English and
/// Japanese. Edits keep who and when; <see cref="Version"/> makes two admins' concurrent edits detectable.
/// </summary>
public sealed class Announcement
{
    public const int TextMax = 1000;

    // EF Core materializes through this one.
    private Announcement()
    {
        TextEn = TextJa = CreatedBy = UpdatedBy = "";
    }

    public Guid Id { get; private set; }
    public AnnouncementSeverity Severity { get; private set; }
    public string TextEn { get; private set; }
    public string TextJa { get; private set; }
    public DateTimeOffset StartsAt { get; private set; }
    public DateTimeOffset EndsAt { get; private set; }
    public string CreatedBy { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }
    public string UpdatedBy { get; private set; }
    public DateTimeOffset UpdatedAt { get; private set; }
    public int Version { get; private set; }

    public static Announcement Create(AnnouncementSeverity severity, string? textEn, string? textJa,
        DateTimeOffset startsAt, DateTimeOffset endsAt, Username by, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(by);
        var (en, ja) = CheckTexts(textEn, textJa);
        CheckWindow(startsAt, endsAt);
        return new Announcement
        {
            Id = Guid.NewGuid(),
            Severity = CheckSeverity(severity),
            TextEn = en,
            TextJa = ja,
            StartsAt = startsAt,
            EndsAt = endsAt,
            CreatedBy = by.Value,
            CreatedAt = at,
            UpdatedBy = by.Value,
            UpdatedAt = at,
        };
    }

    /// <summary>Shown now (start included, end excluded).</summary>
    public bool IsActiveAt(DateTimeOffset at) => StartsAt <= at && at < EndsAt;

    public bool HasEndedAt(DateTimeOffset at) => EndsAt <= at;

    /// <summary>The Japanese text for a Japanese UI, the English text otherwise.</summary>
    public string TextFor(string twoLetterLanguage) => twoLetterLanguage == "ja" ? TextJa : TextEn;

    /// <summary>Changes everything at once; an invalid value changes nothing.</summary>
    public void Edit(AnnouncementSeverity severity, string? textEn, string? textJa, DateTimeOffset startsAt, DateTimeOffset endsAt,
        Username by, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(by);
        var (en, ja) = CheckTexts(textEn, textJa);
        CheckWindow(startsAt, endsAt);
        Severity = CheckSeverity(severity);
        TextEn = en;
        TextJa = ja;
        StartsAt = startsAt;
        EndsAt = endsAt;
        Touch(by, at);
    }

    /// <summary>Ends a running announcement now instead of at its planned end.</summary>
    public void EndEarly(Username by, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(by);
        if (!IsActiveAt(at))
        {
            throw new InvalidTransitionException(nameof(Announcement), HasEndedAt(at) ? "Ended" : "Scheduled", "Ended");
        }
        EndsAt = at;
        Touch(by, at);
    }

    private void Touch(Username by, DateTimeOffset at)
    {
        UpdatedBy = by.Value;
        UpdatedAt = at;
        Version++;
    }

    private static AnnouncementSeverity CheckSeverity(AnnouncementSeverity severity) =>
        Enum.IsDefined(severity) ? severity : throw new InvalidValueException(nameof(Severity), "Unknown severity.");

    private static (string En, string Ja) CheckTexts(string? textEn, string? textJa) =>
        (CheckText(textEn, nameof(TextEn), "English"), CheckText(textJa, nameof(TextJa), "Japanese"));

    internal static string CheckText(string? text, string field, string language)
    {
        var trimmed = text?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            throw new InvalidValueException(field, $"The {language} text is required.");
        }
        if (trimmed.Length > TextMax)
        {
            throw new InvalidValueException(field, $"The {language} text is longer than {TextMax} characters.");
        }
        ControlCharacters.ThrowIfContains(trimmed, ControlCharacters.Lines.Multiple, field, $"{language} text");
        return trimmed.Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    private static void CheckWindow(DateTimeOffset startsAt, DateTimeOffset endsAt)
    {
        if (endsAt <= startsAt)
        {
            throw new InvalidValueException(nameof(EndsAt), "The end must be after the start.");
        }
    }
}
