using Portal.Domain.Mail;

namespace Portal.Infrastructure.Mail;

/// <summary>
/// One queued mail. Sent by the dispatcher job; on failure it waits until <see cref="NextAttemptAt"/>. While a
/// dispatcher sends it, it is claimed (<see cref="ClaimedBy"/> until <see cref="ClaimedUntil"/>).
/// </summary>
public sealed class OutboxMail
{
    public long Id { get; set; }
    public required string DeduplicationKey { get; set; }
    public required string Recipient { get; set; }
    public required string Subject { get; set; }
    public required string Body { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    public int Attempts { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset? SentAt { get; set; }

    /// <summary>
    /// The Message-ID header, angle brackets included, given by the database when the row is inserted (the default
    /// of <c>message_id</c>, migrations/0013) and sent unchanged on every attempt, so that the rare second copy of a
    /// message carries the same Message-ID and mail clients fold it. Null only before the insert.
    /// </summary>
    public string MessageId { get; private set; } = null!;

    /// <summary>The dispatcher (<see cref="MailDispatcher.ClaimOwner"/>) sending it now; null when nobody is.</summary>
    public string? ClaimedBy { get; set; }

    /// <summary>Until when <see cref="ClaimedBy"/> holds it; after that another dispatcher may take it over.</summary>
    public DateTimeOffset? ClaimedUntil { get; set; }

    /// <summary>
    /// A row for <paramref name="message"/>, due now. Add it to the same DbContext as the state change it belongs to,
    /// so both commit together; the caller's own idempotency then keeps it single.
    /// </summary>
    public static OutboxMail Queue(MailMessage message, string deduplicationKey, DateTimeOffset now) => new()
    {
        DeduplicationKey = deduplicationKey,
        Recipient = message.To.Value,
        Subject = message.Subject,
        Body = message.Body,
        CreatedAt = now,
        NextAttemptAt = now,
    };
}
