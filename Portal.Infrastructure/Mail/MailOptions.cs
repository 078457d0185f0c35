using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Mail;

/// <summary>The <c>Mail</c> configuration section: the SMTP server the dispatcher hands queued mail to.</summary>
public sealed class MailOptions
{
    public const string Section = "Mail";

    [Required]
    public string SmtpHost { get; set; } = "127.0.0.1";

    [Range(1, 65535)]
    public int SmtpPort { get; set; } = 25;

    /// <summary>The sender, with or without a display name.</summary>
    [Required]
    public string From { get; set; } = "GPU Jupyter Portal <noreply@example.org>";

    /// <summary>Implicit TLS is not supported by <c>SmtpClient</c>; this is STARTTLS on the given port.</summary>
    public bool EnableSsl { get; set; }

    /// <summary>SMTP AUTH user; none means no authentication.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>How long one message may take on the SMTP connection (connect to the server's answer to DATA).</summary>
    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// How long a dispatcher's claim on a message lasts: no other dispatcher (nor the same node restarted) sends that
    /// message before it expires, and a message whose node died while sending it goes out again after it. At least
    /// twice <see cref="TimeoutSeconds"/>, so that a live node always finishes within its claim.
    /// </summary>
    [Range(2, 3600)]
    public int ClaimSeconds { get; set; } = 120;

    /// <summary>How often the dispatcher job looks for due mail.</summary>
    [Range(1, 3600)]
    public int DispatchIntervalSeconds { get; set; } = 5;

    /// <summary>At most this many mails per dispatch run; the rest wait for the next run.</summary>
    [Range(1, 1000)]
    public int BatchSize { get; set; } = 50;
}
