using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Directory;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>
/// User administration wired to one test database, the test slapd and the local-process backend, as the portal wires
/// it; the job trigger records requests and <see cref="SyncAsync"/> runs the job's work, as the job would.
/// </summary>
public sealed class UserAdminServices : IDisposable
{
    public UserAdminServices(TestDatabase database)
    {
        Database = database;
        Servers = new ServerServices(database);
        Directory = LdapTestUsers.Directory();
        var onboarding = Microsoft.Extensions.Options.Options.Create(new OnboardingOptions { PublicBaseUrl = "http://portal.test" });
        var issuer = new CredentialIssuer(DataProtection, onboarding);
        Admin = new UserAdminService(database.ContextFactory(), database.DataSource, Directory, Servers.Quotas, Servers.Servers, Jobs,
            issuer, TimeProvider.System);
        Sync = new UserDirectorySync(database.ContextFactory(), Directory, Servers.Servers, issuer, TimeProvider.System,
            NullLogger<UserDirectorySync>.Instance);
        SignIn = new SignInService(Directory, database.ContextFactory(), new AuditLog(database.ContextFactory(), TimeProvider.System),
            TimeProvider.System, NullLogger<SignInService>.Instance,
            new SignInThrottle(database.ContextFactory(), TimeProvider.System, Microsoft.Extensions.Options.Options.Create(new SignInThrottleOptions())));
        Credentials = new CredentialService(database.ContextFactory(), issuer, TimeProvider.System);
    }

    public TestDatabase Database { get; }
    public ServerServices Servers { get; }
    public LdapDirectory Directory { get; }
    public IDataProtectionProvider DataProtection { get; } = new EphemeralDataProtectionProvider();
    public RecordingJobTrigger Jobs { get; } = new();
    public UserAdminService Admin { get; }
    public UserDirectorySync Sync { get; }
    public SignInService SignIn { get; }
    public CredentialService Credentials { get; }

    public static AuditActor AdminActor { get; } = new("admin", "192.0.2.77");

    /// <summary>Runs the user's administration job as the job engine would, once per recorded trigger, until it asks for nothing more.</summary>
    public async Task SyncAsync(Username username)
    {
        Assert.Contains(username, Jobs.Usernames);
        for (var run = 0; run < 5; run++)
        {
            if (await Sync.SyncAsync(username, CancellationToken.None) is not { } again)
            {
                return;
            }
            Assert.True(again == TimeSpan.Zero, $"The job failed and asked to retry in {again}: {(await AccountAsync(username)).AdminJobError}");
        }
        throw new InvalidOperationException($"The administration job of {username} did not settle.");
    }

    public async Task<Account> AccountAsync(Username username)
    {
        await using var db = Database.CreateDbContext();
        return await db.Accounts.AsNoTracking().SingleAsync(a => a.Username == username);
    }

    /// <summary>An LDAP person with an account row, made by their first sign-in (no application), as most accounts are.</summary>
    public async Task<Username> SignedInPersonAsync(string password, params string[] groups)
    {
        var uid = LdapTestUsers.UniqueUsername("adm");
        LdapTestUsers.CreatePerson(uid, password, false, groups);
        Assert.IsType<SignInResult.Succeeded>(await SignIn.SignInAsync(uid, password, "192.0.2.10", CancellationToken.None));
        return Username.Parse(uid);
    }

    public void Dispose() => Servers.Dispose();
}
