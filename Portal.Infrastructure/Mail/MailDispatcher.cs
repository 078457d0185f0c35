using System.Net;
using System.Net.Mail;
using System.Net.Sockets;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Mail;

/// <summary>What one dispatch run did.</summary>
public sealed record MailDispatchResult(int Sent, int Failed);

/// <summary>
/// Sends the due mail of the outbox over SMTP. Each mail is taken in its own short transaction with
/// <c>SELECT … FOR UPDATE SKIP LOCKED</c>, sent, and marked sent in that transaction, so two portal nodes (or two
/// runs) never send the same row, and a crash between the send and the commit can at worst send a mail twice,
/// never lose one. A failed send leaves the row unsent with one more attempt, the error (never the body) and a
/// later <c>next_attempt_at</c> (exponential backoff), so a mail server outage delays mail and loses none.
/// Thread-safe; registered as a singleton.
/// </summary>
public sealed partial class MailDispatcher(
    IDbContextFactory<PortalDbContext> contexts, IOptions<MailOptions> options, TimeProvider clock, ILogger<MailDispatcher> logger)
{
    public const int MaxErrorLength = 1000;

    /// <summary>The wait after the first failed attempt; it doubles with each further one.</summary>
    public static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(15);

    /// <summary>The wait before the next attempt after <paramref name="attempts"/> failed ones: 5 s, 10 s, 20 s, … at most 15 min.</summary>
    public static TimeSpan RetryDelay(int attempts)
    {
        var exponent = Math.Clamp(attempts - 1, 0, 20);
        var delay = FirstRetryDelay * Math.Pow(2, exponent);
        return delay < MaxRetryDelay ? delay : MaxRetryDelay;
    }

    /// <summary>
    /// Sends up to <see cref="MailOptions.BatchSize"/> due mails, oldest first. Stops early when the mail server
    /// cannot be reached (the rest wait for the next run rather than each failing the same way).
    /// </summary>
    public async Task<MailDispatchResult> DispatchDueAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var from = new MailAddress(settings.From);
        using var smtp = CreateClient(settings);
        int sent = 0, failed = 0;
        for (var i = 0; i < settings.BatchSize; i++)
        {
            var outcome = await DispatchNextAsync(smtp, from, cancellationToken);
            if (outcome == Outcome.NoneDue)
            {
                break;
            }
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

    private async Task<Outcome> DispatchNextAsync(SmtpClient smtp, MailAddress from, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var due = await db.OutboxMails
            .FromSql($"""
                SELECT * FROM outbox_mails
                WHERE sent_at IS NULL AND next_attempt_at <= {now}
                ORDER BY next_attempt_at, id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
                """)
            .ToListAsync(cancellationToken);
        if (due.Count == 0)
        {
            return Outcome.NoneDue;
        }
        var mail = due[0];
        mail.Attempts++;
        Outcome outcome;
        try
        {
            using var message = Compose(mail, from);
            await smtp.SendMailAsync(message, cancellationToken);
            mail.SentAt = clock.GetUtcNow();
            outcome = Outcome.Sent;
            LogSent(logger, mail.Id, mail.DeduplicationKey, mail.Attempts);
        }
        catch (Exception e) when (e is SmtpException or IOException or SocketException or FormatException or InvalidOperationException)
        {
            mail.LastError = Describe(e, mail.Body);
            mail.NextAttemptAt = clock.GetUtcNow() + RetryDelay(mail.Attempts);
            outcome = IsServerUnavailable(e) ? Outcome.ServerUnavailable : Outcome.Failed;
            LogFailed(logger, mail.Id, mail.DeduplicationKey, mail.Attempts, mail.NextAttemptAt, mail.LastError);
        }
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return outcome;
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
        message.Headers.Add("Message-ID", $"<outbox-{mail.Id}-{mail.CreatedAt.ToUnixTimeMilliseconds()}@{from.Host}>");
        return message;
    }

    private static bool IsServerUnavailable(Exception e) =>
        e is SmtpException { StatusCode: SmtpStatusCode.ServiceNotAvailable or SmtpStatusCode.GeneralFailure }
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
        return error.Length <= MaxErrorLength ? error : error[..MaxErrorLength];
    }

    private enum Outcome
    {
        NoneDue,
        Sent,
        Failed,
        ServerUnavailable,
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent mail {MailId} ({DeduplicationKey}) on attempt {Attempts}.")]
    private static partial void LogSent(ILogger logger, long mailId, string deduplicationKey, int attempts);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Sending mail {MailId} ({DeduplicationKey}) failed on attempt {Attempts}; next attempt at {NextAttemptAt:o}: {Error}")]
    private static partial void LogFailed(ILogger logger, long mailId, string deduplicationKey, int attempts, DateTimeOffset nextAttemptAt, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Mail dispatch: {Sent} sent, {Failed} failed.")]
    private static partial void LogRun(ILogger logger, int sent, int failed);
}
