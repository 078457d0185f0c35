using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Tests.Audit;
using Portal.Tests.Domain;

namespace Portal.Tests.Onboarding;

/// <summary>Issuing only stages (the caller commits), so these tests need no database.</summary>
public sealed class CredentialIssuerTests
{
    private static readonly DateTimeOffset Now = new(2026, 4, 1, 9, 0, 0, TimeSpan.Zero);

    private readonly CredentialIssuer _issuer = new(new EphemeralDataProtectionProvider(),
        Microsoft.Extensions.Options.Options.Create(new OnboardingOptions { PublicBaseUrl = "http://portal.test/" }));

    [Fact]
    public void IssueInitial_StagesOneLinkAndItsMail_KeyedByTheApplication()
    {
        using var db = AuditStageTests.Unconnected();
        var application = AccountApplicationTests.Submitted("hanako");

        var link = _issuer.IssueInitial(db, application, Now);

        Assert.Equal((application.Id, "hanako", Now, Now + CredentialLink.Lifetime), (link.ApplicationId, link.Username.Value, link.CreatedAt, link.ExpiresAt));
        var mail = AssertStaged(db, link);
        Assert.Equal(($"credentials:{application.Id}", "hanako@keio.jp", Now), (mail.DeduplicationKey, mail.Recipient, mail.CreatedAt));
    }

    [Fact]
    public void IssueReset_StagesALinkWithoutApplication_AndItsMailToTheGivenAddress()
    {
        using var db = AuditStageTests.Unconnected();
        var account = Account.Provisioned(Guid.NewGuid(), Username.Parse("taro"), "Taro Yamada", EmailAddress.Parse("taro@keio.jp"), "Science", 2_000_001, Now);

        var link = _issuer.IssueReset(db, account, EmailAddress.Parse("taro.other@example.org"), Now);

        Assert.Equal((null, "taro", Now + CredentialLink.Lifetime), (link.ApplicationId, link.Username.Value, link.ExpiresAt));
        var mail = AssertStaged(db, link);
        Assert.Equal(($"password-reset:{link.Id}", "taro.other@example.org"), (mail.DeduplicationKey, mail.Recipient));
    }

    [Fact]
    public void EachIssue_MakesANewPasswordAndToken()
    {
        using var db = AuditStageTests.Unconnected();
        var account = Account.Provisioned(Guid.NewGuid(), Username.Parse("taro"), "Taro Yamada", EmailAddress.Parse("taro@keio.jp"), "Science", 2_000_001, Now);

        var first = _issuer.IssueReset(db, account, account.Email!, Now);
        var second = _issuer.IssueReset(db, account, account.Email!, Now);

        Assert.NotEqual(first.TokenHash, second.TokenHash);
        Assert.NotEqual(_issuer.Unprotect(first.ProtectedPassword!), _issuer.Unprotect(second.ProtectedPassword!));
    }

    /// <summary>
    /// The link and its mail are added together and nothing is saved; the mail carries the link whose secret hashes to
    /// the stored hash, and never the password, which is stored only protected.
    /// </summary>
    private OutboxMail AssertStaged(PortalDbContext db, CredentialLink link)
    {
        Assert.Same(link, Assert.Single(db.ChangeTracker.Entries<CredentialLink>()).Entity);
        var mail = Assert.Single(db.ChangeTracker.Entries<OutboxMail>()).Entity;
        Assert.All(db.ChangeTracker.Entries(), e => Assert.Equal(EntityState.Added, e.State));

        var password = _issuer.Unprotect(link.ProtectedPassword!);
        Assert.Equal(16, password.Length);
        Assert.DoesNotContain(password, link.ProtectedPassword!, StringComparison.Ordinal);
        Assert.DoesNotContain(password, mail.Body, StringComparison.Ordinal);

        var start = mail.Body.IndexOf("http://portal.test/welcome/", StringComparison.Ordinal);
        Assert.True(start >= 0, mail.Body);
        var token = new string(mail.Body[(start + "http://portal.test/welcome/".Length)..].TakeWhile(c => !char.IsWhiteSpace(c)).ToArray());
        Assert.Equal(link.TokenHash, SecretTokens.Hash(token));
        return mail;
    }
}
