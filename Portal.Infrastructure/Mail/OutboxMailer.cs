using Microsoft.EntityFrameworkCore;
using Npgsql;
using Portal.Domain.Mail;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Mail;

/// <summary>
/// <see cref="IMailer"/> as a transactional outbox: queueing writes a row to <c>outbox_mails</c>, and
/// <see cref="MailDispatcher"/> sends it later. A deduplication key already queued (sent or not) is a no-op,
/// so the same logical mail goes out once however often it is asked for.
/// </summary>
public sealed class OutboxMailer(IDbContextFactory<PortalDbContext> contexts, TimeProvider clock, IJobTrigger? jobs = null) : IMailer
{
    public const string DeduplicationIndex = "ix_outbox_mails_dedup_key";
    public const int MaxDeduplicationKeyLength = 200;
    public const int MaxSubjectLength = 300;

    /// <summary>
    /// Queues the mail in its own statement (<c>INSERT … ON CONFLICT DO NOTHING</c>) and, when it was new and a
    /// trigger was given, asks for an immediate dispatch. Safe to call concurrently with the same key.
    /// </summary>
    public async Task QueueAsync(MailMessage message, string deduplicationKey, CancellationToken cancellationToken)
    {
        Validate(message, deduplicationKey);
        var now = clock.GetUtcNow();
        int inserted;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            inserted = await db.Database.ExecuteSqlAsync(
                $"""
                INSERT INTO outbox_mails (dedup_key, recipient, subject, body, created_at, next_attempt_at, attempts)
                VALUES ({deduplicationKey}, {message.To.Value}, {message.Subject}, {message.Body}, {now}, {now}, 0)
                ON CONFLICT (dedup_key) DO NOTHING
                """,
                cancellationToken);
        }
        if (inserted > 0 && jobs is not null)
        {
            await jobs.RunSoonAsync(JobRequest.MailDispatch, cancellationToken);
        }
    }

    /// <summary>
    /// Adds the mail to <paramref name="db"/> without saving, so that it commits (or not) together with the
    /// caller's state change in the caller's <c>SaveChanges</c> or transaction. There is no ON CONFLICT here:
    /// the deduplication comes from the caller's own idempotency (the state change that stages the mail happens
    /// once, e.g. a transition guarded by the entity's version). A key that is already queued makes the caller's
    /// save fail with a unique violation on <see cref="DeduplicationIndex"/> (see <see cref="IsDuplicate"/>), which
    /// rolls the state change back with it rather than sending a second mail. After the commit, call
    /// <see cref="IJobTrigger.RunSoonAsync"/> with <see cref="JobRequest.MailDispatch"/> to have it sent at once instead of at the next run.
    /// </summary>
    public static OutboxMail Stage(PortalDbContext db, MailMessage message, string deduplicationKey, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(db);
        Validate(message, deduplicationKey);
        var mail = OutboxMail.Queue(message, deduplicationKey, now);
        db.OutboxMails.Add(mail);
        return mail;
    }

    /// <summary>Whether a failed save failed because the deduplication key was already queued.</summary>
    public static bool IsDuplicate(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: DeduplicationIndex })
            {
                return true;
            }
        }
        return false;
    }

    private static void Validate(MailMessage message, string deduplicationKey)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (string.IsNullOrWhiteSpace(deduplicationKey) || deduplicationKey.Length > MaxDeduplicationKeyLength)
        {
            throw new ArgumentException($"A deduplication key is 1 to {MaxDeduplicationKeyLength} characters.", nameof(deduplicationKey));
        }
        if (string.IsNullOrWhiteSpace(message.Subject) || message.Subject.Length > MaxSubjectLength
            || message.Subject.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            throw new ArgumentException($"A subject is one line of 1 to {MaxSubjectLength} characters.", nameof(message));
        }
        ArgumentNullException.ThrowIfNull(message.Body);
    }
}
