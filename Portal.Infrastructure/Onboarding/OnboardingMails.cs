using Portal.Domain.Accounts;
using Portal.Domain.Mail;
using Portal.Domain.Onboarding;

namespace Portal.Infrastructure.Onboarding;

/// <summary>
/// The mails of onboarding, in English and Japanese in one body (the applicant has not chosen a language yet).
/// None carries a password: credentials travel only behind a one-time link.
/// </summary>
public static class OnboardingMails
{
    public static MailMessage Received(AccountApplication application, string statusLink) => new(application.Email,
        "Your GPU Jupyter account application / GPU Jupyter アカウント申請を受け付けました",
        $"""
        Dear {application.FullName},

        We received your application for a GPU Jupyter account (username: {application.DesiredUsername}).
        Staff review applications on working days. You will get an email when it is decided.
        You can see its state, or withdraw it, here:
        {statusLink}

        {application.FullName} 様

        GPU Jupyter アカウントの申請を受け付けました(ユーザー名: {application.DesiredUsername})。
        担当者が平日に審査し、結果をメールでお知らせします。
        申請の状況の確認と取り下げはこちらから行えます:
        {statusLink}
        """);

    public static MailMessage StaffNotice(EmailAddress staff, AccountApplication application, string reviewLink) => new(staff,
        $"New account application: {application.DesiredUsername} / 新しいアカウント申請",
        $"""
        A new application waits for review.
        新しいアカウント申請が審査を待っています。

        Name / 氏名: {application.FullName}
        Username / ユーザー名: {application.DesiredUsername}
        Department / 所属: {application.Department}

        {reviewLink}
        """);

    public static MailMessage Rejected(AccountApplication application) => new(application.Email,
        "Your GPU Jupyter account application was not approved / GPU Jupyter アカウント申請について",
        $"""
        Dear {application.FullName},

        Your application for a GPU Jupyter account (username: {application.DesiredUsername}) was not approved.
        Reason:
        {application.RejectionReason}

        {application.FullName} 様

        GPU Jupyter アカウントの申請(ユーザー名: {application.DesiredUsername})は承認されませんでした。
        理由:
        {application.RejectionReason}
        """);

    public static MailMessage Credentials(AccountApplication application, string credentialLink, DateTimeOffset expiresAt) => new(application.Email,
        "Your GPU Jupyter account is ready / GPU Jupyter アカウントを作成しました",
        $"""
        Dear {application.FullName},

        Your GPU Jupyter account {application.DesiredUsername} is ready. Open this link to see your initial
        password. It works once and until {expiresAt:yyyy-MM-dd HH:mm} UTC:
        {credentialLink}

        At your first sign-in you will choose a new password and accept the terms of use.

        {application.FullName} 様

        GPU Jupyter アカウント {application.DesiredUsername} を作成しました。初期パスワードは次のリンクで
        一度だけ表示できます(有効期限 {expiresAt:yyyy-MM-dd HH:mm} UTC):
        {credentialLink}

        最初のサインイン時に新しいパスワードの設定と利用規約への同意をお願いします。
        """);
}
