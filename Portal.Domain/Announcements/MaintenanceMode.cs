using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Announcements;

/// <summary>
/// The portal-wide maintenance switch (one row). While on, everyone sees its message and only admins may start
/// servers; servers already running are left alone.
/// </summary>
public sealed class MaintenanceMode
{
    public const int SingletonId = 1;

    private MaintenanceMode()
    {
        MessageEn = MessageJa = SetBy = "";
    }

    public int Id { get; private set; }
    public bool Enabled { get; private set; }
    public string MessageEn { get; private set; }
    public string MessageJa { get; private set; }
    public string SetBy { get; private set; }
    public DateTimeOffset SetAt { get; private set; }
    public int Version { get; private set; }

    /// <summary>Off, as a fresh installation has it (migration 0009 inserts the row).</summary>
    public static MaintenanceMode Off { get; } = new() { Id = SingletonId, SetBy = "(system)" };

    public string MessageFor(string twoLetterLanguage) => twoLetterLanguage == "ja" ? MessageJa : MessageEn;

    /// <summary>Turns maintenance on with the message people see (both languages required).</summary>
    public void TurnOn(string? messageEn, string? messageJa, Username by, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(by);
        var en = Announcement.CheckText(messageEn, nameof(MessageEn), "English");
        var ja = Announcement.CheckText(messageJa, nameof(MessageJa), "Japanese");
        if (Enabled && en == MessageEn && ja == MessageJa)
        {
            throw new InvalidTransitionException(nameof(MaintenanceMode), "On", "On");
        }
        Enabled = true;
        MessageEn = en;
        MessageJa = ja;
        Touch(by, at);
    }

    public void TurnOff(Username by, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(by);
        if (!Enabled)
        {
            throw new InvalidTransitionException(nameof(MaintenanceMode), "Off", "Off");
        }
        Enabled = false;
        Touch(by, at);
    }

    private void Touch(Username by, DateTimeOffset at)
    {
        SetBy = by.Value;
        SetAt = at;
        Version++;
    }
}
