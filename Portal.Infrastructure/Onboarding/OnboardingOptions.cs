namespace Portal.Infrastructure.Onboarding;

/// <summary>The <c>Onboarding</c> configuration section.</summary>
public sealed class OnboardingOptions
{
    public const string Section = "Onboarding";

    /// <summary>Applicants' email must be in one of these domains (or a subdomain of one).</summary>
    public string[] AllowedEmailDomains { get; set; } = ["keio.jp"];

    /// <summary>Who is told that a new application waits; empty means every staff and admin account with an email.</summary>
    public string[] StaffNotificationEmails { get; set; } = [];

    /// <summary>The portal's address as applicants reach it, for links in mail.</summary>
    public string PublicBaseUrl { get; set; } = "http://127.0.0.1:5000";

    /// <summary>How often the provisioning job looks for approved applications (it is also started at once on approval).</summary>
    public int ProvisioningSweepSeconds { get; set; } = 30;

    public string Link(string path) => $"{PublicBaseUrl.TrimEnd('/')}{path}";
}
