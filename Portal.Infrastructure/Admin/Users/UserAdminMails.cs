using Portal.Domain.Accounts;
using Portal.Domain.Mail;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>Mails of user administration, in English and Japanese in one body; no password ever travels in a mail.</summary>
public static class UserAdminMails
{
    public static MailMessage PasswordReset(EmailAddress to, Account account, string credentialLink, DateTimeOffset expiresAt) => new(to,
        "Your GPU Jupyter password was reset / GPU Jupyter のパスワードを再設定しました",
        $"""
        Dear {account.DisplayName},

        An administrator reset the password of your GPU Jupyter account {account.Username}. Open this link to see
        your new temporary password. It works once and until {expiresAt:yyyy-MM-dd HH:mm} UTC:
        {credentialLink}

        At your next sign-in you will choose a new password.

        {account.DisplayName} 様

        管理者が GPU Jupyter アカウント {account.Username} のパスワードを再設定しました。新しい仮パスワードは
        次のリンクで一度だけ表示できます(有効期限 {expiresAt:yyyy-MM-dd HH:mm} UTC):
        {credentialLink}

        次回のサインイン時に新しいパスワードを設定してください。
        """);
}
