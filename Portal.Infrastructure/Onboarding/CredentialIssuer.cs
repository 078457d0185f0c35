using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Mail;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Persistence;

namespace Portal.Infrastructure.Onboarding;

/// <summary>
/// Makes passwords that the portal hands to someone (a new account's first, an administrator's reset) and the
/// one-time links that show them. The password is only ever stored protected; the link's secret leaves this class
/// only inside the mail, and the password in clear only through <see cref="Unprotect"/>, for LDAP or the link's
/// page. Neither may reach a log or an audit record.
/// </summary>
public sealed class CredentialIssuer(IDataProtectionProvider dataProtection, IOptions<OnboardingOptions> options)
{
    /// <summary>Changing it makes every stored password unreadable, links already mailed included.</summary>
    public const string PasswordProtectionPurpose = "Portal.Onboarding.InitialPassword";

    private IDataProtector Protector => dataProtection.CreateProtector(PasswordProtectionPurpose);

    /// <summary>
    /// Adds to <paramref name="db"/>, without saving, a new account's link with a fresh password and the mail that
    /// carries it, so that they commit together: one link, one mail (its key is the application's).
    /// </summary>
    public CredentialLink IssueInitial(PortalDbContext db, AccountApplication application, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(application);
        return Issue(db, now,
            (tokenHash, protectedPassword) => CredentialLink.Issue(application.Id, application.DesiredUsername, tokenHash, protectedPassword, now),
            (link, url) => (OnboardingMails.Credentials(application, url, link.ExpiresAt), $"credentials:{application.Id}"));
    }

    /// <summary>
    /// Adds to <paramref name="db"/>, without saving, a reset link with a fresh password for an existing account and
    /// the mail to <paramref name="email"/> that carries it (each reset its own mail, keyed by the link).
    /// </summary>
    public CredentialLink IssueReset(PortalDbContext db, Account account, EmailAddress email, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(account);
        return Issue(db, now,
            (tokenHash, protectedPassword) => CredentialLink.IssueReset(account.Username, tokenHash, protectedPassword, now),
            (link, url) => (UserAdminMails.PasswordReset(email, account, url, link.ExpiresAt), $"password-reset:{link.Id}"));
    }

    /// <summary>The password in clear, to write to LDAP or to show once on the link's page.</summary>
    public string Unprotect(string protectedPassword) => Protector.Unprotect(protectedPassword);

    private CredentialLink Issue(PortalDbContext db, DateTimeOffset now, Func<string, string, CredentialLink> create,
        Func<CredentialLink, string, (MailMessage Message, string DeduplicationKey)> mail)
    {
        ArgumentNullException.ThrowIfNull(db);
        var token = SecretTokens.NewToken();
        var link = create(SecretTokens.Hash(token), Protector.Protect(SecretTokens.NewPassword()));
        db.CredentialLinks.Add(link);
        var (message, key) = mail(link, options.Value.Link($"/welcome/{token}"));
        OutboxMailer.Stage(db, message, key, now);
        return link;
    }
}
