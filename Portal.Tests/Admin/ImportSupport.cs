using System.Text;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding.Import;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>The import service wired like the portal wires it, over the onboarding services of one test database.</summary>
public sealed class ImportSupport
{
    public ImportSupport(TestDatabase database, TimeProvider? clock = null)
    {
        Onboarding = new OnboardingServices(database, clock: clock);
        Import = new ImportService(database.ContextFactory(), LdapTestUsers.Directory(), Onboarding.Trigger, Onboarding.Options,
            new AuditLog(database.ContextFactory(), Onboarding.Clock), Onboarding.Clock);
    }

    public static Username Admin { get; } = Username.Parse("admin");

    public OnboardingServices Onboarding { get; }
    public ImportService Import { get; }

    public static byte[] Csv(params string[] lines) => Encoding.UTF8.GetBytes(string.Join("\r\n", lines) + "\r\n");
}
