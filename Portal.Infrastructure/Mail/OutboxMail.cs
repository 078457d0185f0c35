using Portal.Domain.Mail;

namespace Portal.Infrastructure.Mail;

/// <summary>One queued mail. Sent by the dispatcher job; on failure it waits until <see cref="NextAttemptAt"/>.</summary>
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
