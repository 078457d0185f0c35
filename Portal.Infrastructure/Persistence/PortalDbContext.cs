using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Announcements;
using Portal.Domain.Api;
using Portal.Domain.Audit;
using Portal.Domain.Onboarding;
using Portal.Domain.Onboarding.Import;
using Portal.Domain.Servers;
using Portal.Domain.Terms;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Security;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Usage;

namespace Portal.Infrastructure.Persistence;

/// <summary>
/// The EF model of the schema in <c>migrations/</c>. The SQL files are the source of truth;
/// <c>SchemaDriftTests</c> fails when this model and the migrated database disagree.
/// </summary>
public sealed class PortalDbContext(DbContextOptions<PortalDbContext> options) : DbContext(options)
{
    public DbSet<Account> Accounts => Set<Account>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();
    public DbSet<AccountApplication> Applications => Set<AccountApplication>();
    public DbSet<CredentialLink> CredentialLinks => Set<CredentialLink>();
    public DbSet<TermsVersion> TermsVersions => Set<TermsVersion>();
    public DbSet<TermsAcceptance> TermsAcceptances => Set<TermsAcceptance>();
    public DbSet<OutboxMail> OutboxMails => Set<OutboxMail>();
    public DbSet<SignInFailureRecord> SignInFailures => Set<SignInFailureRecord>();
    public DbSet<UserServer> Servers => Set<UserServer>();
    public DbSet<ServerSession> ServerSessions => Set<ServerSession>();
    public DbSet<GpuAssignment> GpuAssignments => Set<GpuAssignment>();
    public DbSet<ResourcePlan> ResourcePlans => Set<ResourcePlan>();
    public DbSet<QuotaOverride> QuotaOverrides => Set<QuotaOverride>();
    public DbSet<CudaToolkit> CudaToolkits => Set<CudaToolkit>();
    public DbSet<AccessToken> AccessTokens => Set<AccessToken>();
    public DbSet<StorageSample> StorageSamples => Set<StorageSample>();
    public DbSet<ImportBatch> ImportBatches => Set<ImportBatch>();
    public DbSet<ImportRow> ImportRows => Set<ImportRow>();
    public DbSet<Announcement> Announcements => Set<Announcement>();
    public DbSet<MaintenanceMode> MaintenanceModes => Set<MaintenanceMode>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(PortalDbContext).Assembly);
}
