using System.Net;
using System.Net.Mail;
using System.Net.Sockets;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Mail;

/// <summary>What one dispatch run did.</summary>
public sealed record MailDispatchResult(int Sent, int Failed);

/// <summary>
/// Sends the due mail of the outbox over SMTP, one message at a time, in three short steps that each commit on their
/// own: claim (a lease: <c>claimed_by</c>, <c>claimed_until</c>), send, and mark sent the moment the server accepted
/// the message (DATA answered 250). No transaction stays open while the SMTP server is talking.
/// <list type="bullet">
/// <item>A claim is respected by every dispatcher until it expires, its own node restarted included (each dispatcher
/// instance has its own <see cref="ClaimOwner"/>), so two nodes never send the same message at once. A node that
/// dies while sending leaves its claim; the message is sent again only after <see cref="MailOptions.ClaimSeconds"/>.</item>
/// <item>A send is cut off after <see cref="MailOptions.TimeoutSeconds"/> in all (<c>SmtpClient.Timeout</c> bounds
/// each step only), and a claim lasts at least twice that, so a live node finishes within its claim.</item>
/// <item>Cancellation (shutdown) is honoured between messages only: a message that was claimed is sent and marked,
/// and the marking is never cancelled, so a shutdown cannot leave an accepted message unmarked.</item>
/// <item>The Message-ID was fixed when the mail was queued (<see cref="OutboxMail.MessageId"/>) and goes out
/// unchanged on every attempt, so a mail client folds the rare second copy.</item>
/// </list>
/// What remains is one message: a node killed after the server accepted a message and before the mark committed (or
/// cut off from the database for longer than the few seconds the mark is retried) sends that message once more,
/// with the same Message-ID, after the claim expired.
/// A failed send leaves the row unsent with the error (never the body) and a later <c>next_attempt_at</c>
/// (exponential backoff), so a mail server outage delays mail and loses none. Thread-safe; registered as a singleton.
/// </summary>
public sealed partial class MailDispatcher(
    IDbContextFactory<PortalDbContext> contexts, IOptions<MailOptions> options, TimeProvider clock, ILogger<MailDispatcher> logger)
{
    public const int MaxErrorLength = 1000;

    public const int MaxClaimOwnerLength = 200;

    /// <summary>The wait after the first failed attempt; it doubles with each further one.</summary>
    public static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(15);

    /// <summary>
    /// The waits between tries of a statement that records a send (mark or failure) when the database connection
    /// failed: a pooled connection that PostgreSQL dropped during the SMTP conversation fails once and is replaced.
    /// Seconds in all, far inside any claim.
    /// </summary>
    private static readonly TimeSpan[] RecordRetryDelays = [TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)];

    /// <summary>
    /// Who holds this dispatcher's claims: host, process and a random part, so a restarted process (same host, maybe
    /// the same pid in a container) is someone else and waits for its predecessor's claims to expire like any node.
    /// </summary>
    public string ClaimOwner { get; } = Truncate($"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}", MaxClaimOwnerLength);

    /// <summary>
    /// Called after the SMTP server accepted a message and before it is marked sent: the crash window itself. Tests
    /// set it to stop a run exactly there (cancel it, or throw as a killed node would); production leaves it null.
    /// </summary>
    public Func<OutboxMail, Task>? AfterServerAccepted { get; init; }

    /// <summary>The wait before the next attempt after <paramref name="attempts"/> failed ones: 5 s, 10 s, 20 s, … at most 15 min.</summary>
    public static TimeSpan RetryDelay(int attempts)
    {
        var exponent = Math.Clamp(attempts - 1, 0, 20);
        var delay = FirstRetryDelay * Math.Pow(2, exponent);
        return delay < MaxRetryDelay ? delay : MaxRetryDelay;
    }

    /// <summary>
    /// Sends up to <see cref="MailOptions.BatchSize"/> due mails, oldest first, each claimed, sent and marked on its
    /// own. Stops early when the mail server cannot be reached (the rest wait for the next run rather than each failing
    /// the same way), and when <paramref name="cancellationToken"/> is cancelled: then it finishes the message in hand
    /// and returns what it did.
    /// </summary>
    public async Task<MailDispatchResult> DispatchDueAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var from = new MailAddress(settings.From);
        int sent = 0, failed = 0;
        for (var i = 0; i < settings.BatchSize && !cancellationToken.IsCancellationRequested; i++)
        {
            if (await ClaimNextAsync(settings) is not { } mail)
            {
                break;
            }
            var outcome = await SendClaimedAsync(mail, from, settings);
            if (outcome == Outcome.Sent)
            {
                sent++;
                continue;
            }
            failed++;
            if (outcome == Outcome.ServerUnavailable)
            {
                break;
            }
        }
        if (sent > 0 || failed > 0)
        {
            LogRun(logger, sent, failed);
        }
        return new MailDispatchResult(sent, failed);
    }

    /// <summary>
    /// Claims the oldest due message that nobody holds (or whose claim expired) and counts the attempt, in one
    /// statement that commits at once. Not cancellable: a claim committed but reported as cancelled would leave a
    /// message waiting for its claim to expire for nothing.
    /// </summary>
    private async Task<OutboxMail?> ClaimNextAsync(MailOptions settings)
    {
        await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
        var now = clock.GetUtcNow();
        var until = now + TimeSpan.FromSeconds(settings.ClaimSeconds);
        var claimed = await db.OutboxMails
            .FromSql($"""
                UPDATE outbox_mails
                SET claimed_by = {ClaimOwner}, claimed_until = {until}, attempts = attempts + 1
                WHERE id = (
                    SELECT id FROM outbox_mails
                    WHERE sent_at IS NULL AND next_attempt_at <= {now}
                      AND (claimed_until IS NULL OR claimed_until <= {now})
                    ORDER BY next_attempt_at, id
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED)
                RETURNING *
                """)
            .AsNoTracking()
            .ToListAsync(CancellationToken.None);
        return claimed.Count == 0 ? null : claimed[0];
    }

    private async Task<Outcome> SendClaimedAsync(OutboxMail mail, MailAddress from, MailOptions settings)
    {
        Exception? error = null;
        try
        {
            // SmtpClient.Timeout bounds each step of the conversation; the token bounds the whole message, so that a
            // server answering slowly step by step cannot keep a send going past its claim. A client per message:
            // one that was cut off is not reused.
            using var smtp = CreateClient(settings);
            using var message = Compose(mail, from);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(settings.TimeoutSeconds));
            await smtp.SendMailAsync(message, timeout.Token);
        }
        catch (OperationCanceledException e)
        {
            // Only the timeout can cancel the send. Whether the server had already accepted the message is unknown:
            // it is tried again after the backoff, with the same Message-ID.
            error = new TimeoutException($"The SMTP conversation timed out: the message was not completed within {settings.TimeoutSeconds} s.", e);
        }
        catch (Exception e) when (e is SmtpException or IOException or SocketException or FormatException or InvalidOperationException)
        {
            error = e;
        }

        if (error is null)
        {
            if (AfterServerAccepted is { } afterServerAccepted)
            {
                await afterServerAccepted(mail);
            }
            await MarkSentAsync(mail);
            return Outcome.Sent;
        }
        await RecordFailureAsync(mail, error);
        return IsServerUnavailable(error) ? Outcome.ServerUnavailable : Outcome.Failed;
    }

    /// <summary>
    /// Marks the message sent in its own commit, right after the server accepted it; never cancelled, since the
    /// message is out whatever the caller wants now. Should this node have lost its claim (it stalled longer than the
    /// claim), the message is still marked, which keeps a third copy from going out, and the loss is logged.
    /// </summary>
    private async Task MarkSentAsync(OutboxMail mail)
    {
        var sentAt = clock.GetUtcNow();
        var marked = await RecordAsync(mail, db => db.Database.ExecuteSqlAsync(
            $"""
            UPDATE outbox_mails SET sent_at = {sentAt}, claimed_by = NULL, claimed_until = NULL
            WHERE id = {mail.Id} AND claimed_by = {ClaimOwner} AND sent_at IS NULL
            """,
            CancellationToken.None));
        if (marked == 0)
        {
            await RecordAsync(mail, db => db.Database.ExecuteSqlAsync(
                $"UPDATE outbox_mails SET sent_at = {sentAt} WHERE id = {mail.Id} AND sent_at IS NULL", CancellationToken.None));
            LogClaimLost(logger, mail.Id, mail.DeduplicationKey, mail.MessageId);
        }
        LogSent(logger, mail.Id, mail.DeduplicationKey, mail.MessageId, mail.Attempts);
    }

    /// <summary>Records the failure and releases the claim, if this node still holds it; never cancelled.</summary>
    private async Task RecordFailureAsync(OutboxMail mail, Exception error)
    {
        var lastError = Describe(error, mail.Body);
        var nextAttemptAt = clock.GetUtcNow() + RetryDelay(mail.Attempts);
        await RecordAsync(mail, db => db.Database.ExecuteSqlAsync(
            $"""
            UPDATE outbox_mails SET last_error = {lastError}, next_attempt_at = {nextAttemptAt}, claimed_by = NULL, claimed_until = NULL
            WHERE id = {mail.Id} AND claimed_by = {ClaimOwner} AND sent_at IS NULL
            """,
            CancellationToken.None));
        LogFailed(logger, mail.Id, mail.DeduplicationKey, mail.Attempts, nextAttemptAt, lastError);
    }

    /// <summary>
    /// Runs one statement about a message that was just sent (or failed), each try on a connection of its own, and
    /// tries again after <see cref="RecordRetryDelays"/> when the database connection failed. Giving up leaves the
    /// claim: the message goes again after the claim expired, so a database away for longer costs one copy at most.
    /// </summary>
    private async Task<int> RecordAsync(OutboxMail mail, Func<PortalDbContext, Task<int>> statement)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
                return await statement(db);
            }
            catch (Exception e) when (IsDatabaseFailure(e) && attempt < RecordRetryDelays.Length)
            {
                LogRecordRetried(logger, e, mail.Id, RecordRetryDelays[attempt].TotalMilliseconds);
                await Task.Delay(RecordRetryDelays[attempt], CancellationToken.None);
            }
        }
    }

    private static SmtpClient CreateClient(MailOptions settings)
    {
        var smtp = new SmtpClient(settings.SmtpHost, settings.SmtpPort)
        {
            DeliveryMethod = SmtpDeliveryMethod.Network,
            EnableSsl = settings.EnableSsl,
            Timeout = settings.TimeoutSeconds * 1000,
        };
        if (!string.IsNullOrEmpty(settings.Username))
        {
            smtp.Credentials = new NetworkCredential(settings.Username, settings.Password);
        }
        return smtp;
    }

    /// <summary>Plain text in UTF-8: the subject as RFC 2047 encoded words, the body base64 with CRLF line ends.</summary>
    private static System.Net.Mail.MailMessage Compose(OutboxMail mail, MailAddress from)
    {
        var message = new System.Net.Mail.MailMessage(from, new MailAddress(mail.Recipient))
        {
            Subject = mail.Subject,
            SubjectEncoding = Encoding.UTF8,
            HeadersEncoding = Encoding.UTF8,
            Body = mail.Body.ReplaceLineEndings("\r\n"),
            BodyEncoding = Encoding.UTF8,
            BodyTransferEncoding = System.Net.Mime.TransferEncoding.Base64,
            IsBodyHtml = false,
        };
        message.Headers.Add("Message-ID", mail.MessageId);
        return message;
    }

    /// <summary>
    /// The database did not answer or dropped the connection: Npgsql's own exceptions, and EF's wrapping of them
    /// (an <see cref="InvalidOperationException"/> "likely due to a transient failure").
    /// </summary>
    public static bool IsDatabaseFailure(Exception e) =>
        e is NpgsqlException or TimeoutException || e is InvalidOperationException { InnerException: NpgsqlException };

    private static bool IsServerUnavailable(Exception e) =>
        e is SmtpException { StatusCode: SmtpStatusCode.ServiceNotAvailable or SmtpStatusCode.GeneralFailure }
        || e is TimeoutException
        || e.InnerException is SocketException or IOException
        || e is SocketException or IOException;

    /// <summary>The exception chain's types and messages, with the body cut out should a server ever echo it.</summary>
    private static string Describe(Exception exception, string body)
    {
        var text = new StringBuilder();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (text.Length > 0)
            {
                text.Append(" <- ");
            }
            text.Append(e.GetType().Name).Append(": ").Append(e.Message);
        }
        var error = text.ToString();
        if (!string.IsNullOrWhiteSpace(body))
        {
            error = error.Replace(body, "[body]", StringComparison.Ordinal)
                .Replace(body.ReplaceLineEndings("\r\n"), "[body]", StringComparison.Ordinal);
        }
        return Truncate(error, MaxErrorLength);
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];

    private enum Outcome
    {
        Sent,
        Failed,
        ServerUnavailable,
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent mail {MailId} ({DeduplicationKey}, {MessageId}) on attempt {Attempts}.")]
    private static partial void LogSent(ILogger logger, long mailId, string deduplicationKey, string messageId, int attempts);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Mail {MailId} ({DeduplicationKey}, {MessageId}) was accepted by the SMTP server after this node's claim had expired; another node may have sent it as well.")]
    private static partial void LogClaimLost(ILogger logger, long mailId, string deduplicationKey, string messageId);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Sending mail {MailId} ({DeduplicationKey}) failed on attempt {Attempts}; next attempt at {NextAttemptAt:o}: {Error}")]
    private static partial void LogFailed(ILogger logger, long mailId, string deduplicationKey, int attempts, DateTimeOffset nextAttemptAt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording the outcome of mail {MailId} failed on the database; trying again in {Milliseconds:F0} ms.")]
    private static partial void LogRecordRetried(ILogger logger, Exception exception, long mailId, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Mail dispatch: {Sent} sent, {Failed} failed.")]
    private static partial void LogRun(ILogger logger, int sent, int failed);
}
