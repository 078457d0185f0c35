using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Terms;

namespace Portal.Tests.Support;

/// <summary>The onboarding services wired to one test database and the test slapd, as the portal wires them.</summary>
public sealed class OnboardingServices
{
    public OnboardingServices(TestDatabase database, int? ldapPort = null, TimeProvider? clock = null)
    {
        Clock = clock ?? TimeProvider.System;
        Options = Microsoft.Extensions.Options.Options.Create(new OnboardingOptions
        {
            AllowedEmailDomains = ["keio.jp", "example.org"],
            StaffNotificationEmails = ["review-desk@example.org"],
            PublicBaseUrl = "http://portal.test",
        });
        var directory = LdapTestUsers.Directory(ldapPort);
        Terms = new TermsService(database.ContextFactory(), Clock);
        Applications = new ApplicationService(database.ContextFactory(), directory, Terms, Trigger, Options, Clock);
        Review = new ReviewService(database.ContextFactory(), directory, Trigger, Clock);
        var issuer = new CredentialIssuer(DataProtection, Options);
        Provisioning = new ProvisioningService(database.ContextFactory(), database.DataSource, directory, issuer, Trigger, Clock,
            NullLogger<ProvisioningService>.Instance);
        Credentials = new CredentialService(database.ContextFactory(), issuer, Clock);
    }

    public TimeProvider Clock { get; }
    public IOptions<OnboardingOptions> Options { get; }
    public IDataProtectionProvider DataProtection { get; } = new EphemeralDataProtectionProvider();
    /// <summary>Records the jobs asked for and runs none: mail stays queued in the outbox, where the tests read it.</summary>
    public RecordingJobTrigger Trigger { get; } = new();
    public TermsService Terms { get; }
    public ApplicationService Applications { get; }
    public ReviewService Review { get; }
    public ProvisioningService Provisioning { get; }
    public CredentialService Credentials { get; }

    /// <summary>
    /// Moves this database's uidNumber sequence to a block of its own: the test slapd keeps entries across runs, and
    /// its unique overlay would refuse a uidNumber an earlier run already used.
    /// </summary>
    public static async Task UseOwnUidBlockAsync(TestDatabase database)
    {
        var start = 2_000_000 + (Random.Shared.Next(0, 200_000) * 1_000);
        await using var command = database.DataSource.CreateCommand($"SELECT setval('uid_numbers', {start})");
        await command.ExecuteScalarAsync();
    }

    /// <summary>Submits a valid application for a fresh username; returns its id and status token.</summary>
    public async Task<(Guid Id, string Token, string Username)> SubmitAsync(string? username = null)
    {
        var uid = username ?? LdapTestUsers.UniqueUsername("app");
        var terms = await Terms.CurrentAsync(CancellationToken.None);
        var result = await Applications.SubmitAsync("Taro Yamada", $"{uid}@keio.jp", "S1234567", "Faculty of Science", uid,
            "Coursework in deep learning", acceptedTerms: true, terms.Version, "192.0.2.20", CancellationToken.None);
        var submitted = Assert.IsType<SubmitResult.Submitted>(result);
        return (submitted.ApplicationId, submitted.StatusToken, uid);
    }

    public async Task<(Guid Id, string Username)> ApprovedAsync()
    {
        var (id, _, uid) = await SubmitAsync();
        Assert.IsType<DecisionResult.Decided>(await Review.ApproveAsync(id, Username.Parse("staff1"), null, CancellationToken.None));
        return (id, uid);
    }
}
