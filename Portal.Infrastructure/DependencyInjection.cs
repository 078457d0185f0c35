using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Accounts;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Announcements;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Directory;
using Portal.Infrastructure.Jobs;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Onboarding.Import;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Persistence.Migrations;
using Portal.Infrastructure.Security;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Servers.Docker;
using Portal.Infrastructure.Servers.JupyterHub;
using Portal.Infrastructure.Servers.LocalProcess;
using Portal.Infrastructure.Servers.Lxd;
using Portal.Infrastructure.Servers.Slurm;
using Portal.Infrastructure.Terms;
using Portal.Infrastructure.Usage;

namespace Portal.Infrastructure;

public static class DependencyInjection
{
    public const string ConnectionStringName = "Portal";

    /// <summary>Database, migrations, LDAP and the services built on them, from configuration.</summary>
    public static IServiceCollection AddPortalInfrastructure(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{ConnectionStringName} is not set. scripts/run sets it; see README.md, 'Configuration'.");
        }

        services.AddSingleton(TimeProvider.System);
        // Bounded pools: the portal's, the jobs' and the job locks' together stay well under PostgreSQL's max_connections, so a burst
        // of clicks waits for a connection instead of being refused one.
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("Maximum Pool Size", StringComparison.OrdinalIgnoreCase)
            && !connectionString.Contains("MaxPoolSize", StringComparison.OrdinalIgnoreCase))
        {
            builder.MaxPoolSize = configuration.GetValue("Database:MaxPoolSize", 40);
        }
        connectionString = builder.ConnectionString;
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString).Build());
        services.AddDbContextFactory<PortalDbContext>((sp, options) => options.UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton(sp => new SqlMigrationRunner(
            sp.GetRequiredService<NpgsqlDataSource>(),
            configuration["Database:MigrationsDirectory"] is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "migrations"),
            sp.GetRequiredService<ILogger<SqlMigrationRunner>>()));

        services.AddOptions<LdapOptions>().Bind(configuration.GetSection(LdapOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LdapDirectory>();
        services.AddSingleton<IDirectory>(sp => sp.GetRequiredService<LdapDirectory>());
        services.AddHostedService<LdapTransportWarning>();

        // Cookies signed on one node must be readable on every other, and after a restart.
        services.AddDataProtection().SetApplicationName("gpu-jupyter-portal");
        services.AddSingleton<DatabaseXmlRepository>();
        services.AddOptions<KeyManagementOptions>()
            .Configure<DatabaseXmlRepository>((options, repository) => options.XmlRepository = repository);

        services.AddSingleton<AuditLog>();
        services.AddSingleton<AccessTokenService>();
        services.AddSingleton<ServerListing>();
        services.AddSingleton<SignInService>();
        services.AddPortalPasswords(configuration);
        services.AddPortalMail(configuration);

        services.AddOptions<OnboardingOptions>().Bind(configuration.GetSection(OnboardingOptions.Section));
        services.AddSingleton<IDirectoryProvisioning>(sp => sp.GetRequiredService<LdapDirectory>());
        services.AddSingleton<TermsService>();
        services.AddSingleton<ApplicationService>();
        services.AddSingleton<ReviewService>();
        services.AddSingleton<CredentialIssuer>();
        services.AddSingleton<CredentialService>();
        services.AddSingleton<ProvisioningService>();
        services.AddSingleton<ImportService>();
        services.AddSingleton<AnnouncementService>();

        services.AddOptions<ServerOptions>().Bind(configuration.GetSection(ServerOptions.Section));
        services.AddSingleton<GpuInventory>();
        services.AddSingleton<QuotaService>();
        services.AddSingleton<CudaCatalog>();
        services.AddSingleton<ServerChanges>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerChanges>());
        services.AddSingleton<ServerService>();
        services.AddSingleton<ServerReconciler>();
        services.AddLocalProcessBackend(configuration);
        if (configuration.GetSection(JupyterHubOptions.Section).Exists())
        {
            services.AddJupyterHubBackend(configuration);
        }
        if (configuration.GetSection(SlurmOptions.Section).Exists())
        {
            services.AddSlurmBackend(configuration);
        }
        if (configuration.GetSection(LxdOptions.Section).Exists())
        {
            services.AddLxdBackend(configuration);
        }
        if (configuration.GetSection(DockerOptions.Section).Exists())
        {
            services.AddDockerBackend(configuration);
        }
        services.AddUsage(configuration);
        services.AddSingleton<JobsAdministration>();
        services.AddUserAdministration();
        services.AddSingleton<IDirectoryAdministration>(sp => sp.GetRequiredService<LdapDirectory>());
        services.AddPortalJobs(configuration, connectionString);
        return services;
    }
}
