using Portal.Domain.Accounts;

namespace Portal.Domain.Mail;

/// <summary>A mail to send. The body is plain text and never carries a password or a token other than a link.</summary>
public sealed record MailMessage(EmailAddress To, string Subject, string Body);

/// <summary>Queues mail for delivery. Delivery happens later (an outbox), so a mail server outage delays mail and loses none.</summary>
public interface IMailer
{
    /// <summary>Queues <paramref name="message"/>; a <paramref name="deduplicationKey"/> already queued is not queued again, so the same mail is sent once.</summary>
    Task QueueAsync(MailMessage message, string deduplicationKey, CancellationToken cancellationToken);
}
