using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Portal.Infrastructure.Admin.Users;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Usage;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// Hangfire on the portal's PostgreSQL (schema <see cref="HangfireSchema.Name"/>), a server on every node, long polling
/// and a sliding invisibility timeout (docs/decisions/0015-jobs-on-hangfire.md).
/// </summary>
public static class JobsSetup
{
    public static IServiceCollection AddPortalJobs(this IServiceCollection services, IConfiguration configuration, string connectionString)
    {
        services.AddOptions<JobOptions>().Bind(configuration.GetSection(JobOptions.Section)).ValidateDataAnnotations()
            .Validate(o => o.InvisibilityTimeout >= TimeSpan.FromSeconds(10), $"{JobOptions.Section}:InvisibilityTimeout must be at least 10 seconds.")
            .Validate(o => o.QueuePollInterval >= TimeSpan.FromMilliseconds(50), $"{JobOptions.Section}:QueuePollInterval must be at least 50 ms.")
            .Validate(o => o.SchedulePollingInterval >= TimeSpan.FromMilliseconds(100), $"{JobOptions.Section}:SchedulePollingInterval must be at least 100 ms.")
            .ValidateOnStart();
        var settings = configuration.GetSection(JobOptions.Section).Get<JobOptions>() ?? new JobOptions();

        // Hangfire's own pool: a LISTEN session per idle worker, the heartbeat, the schedulers. Its listeners reopen a
        // dropped session from the connection's string, which keeps the password only when told to.
        var hangfireConnections = new NpgsqlConnectionStringBuilder(connectionString)
        {
            ApplicationName = "portal-jobs",
            PersistSecurityInfo = true,
            MaxPoolSize = 2 * settings.MaxConcurrency + 10,
        }.ConnectionString;
        var lockConnections = new NpgsqlConnectionStringBuilder(connectionString)
        {
            ApplicationName = "portal-job-locks",
            MaxPoolSize = settings.MaxConcurrency + 4,
        }.ConnectionString;

        // Registered before AddHangfire, which keeps them: each host (two in one test process) gets its own storage
        // and activator instead of Hangfire's process-wide JobStorage.Current.
        services.AddSingleton<JobStorage>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<JobOptions>>().Value;
            var storageOptions = new PostgreSqlStorageOptions
            {
                SchemaName = HangfireSchema.Name,
                PrepareSchemaIfNecessary = false,
                EnableLongPolling = true,
                UseSlidingInvisibilityTimeout = true,
                InvisibilityTimeout = o.InvisibilityTimeout,
                QueuePollInterval = o.QueuePollInterval,
            };
            return new PostgreSqlStorage(new NpgsqlConnectionFactory(hangfireConnections, storageOptions), storageOptions);
        });
        services.AddSingleton<JobActivator>(sp => new AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));
        services.AddHangfire((sp, hangfire) => hangfire
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseLogProvider(HangfireLogBridge.For(sp.GetRequiredService<ILoggerFactory>())));
        services.AddHangfireServer((sp, server) =>
        {
            var o = sp.GetRequiredService<IOptions<JobOptions>>().Value;
            server.WorkerCount = o.MaxConcurrency;
            server.SchedulePollingInterval = o.SchedulePollingInterval;
            server.Activator = sp.GetRequiredService<JobActivator>();
        });

        services.AddSingleton(_ => new JobLocks(NpgsqlDataSource.Create(lockConnections)));
        services.AddSingleton<WaitingRuns>();
        services.AddSingleton<PortalJobRunner>();
        services.AddSingleton<IJobTrigger, HangfireJobTrigger>();
        services.AddHostedService<RecurringJobs>();

        services.AddSingleton<IPortalJob, ProvisioningJob>();
        services.AddSingleton<IPortalJob, ProvisioningSweepJob>();
        services.AddSingleton<IPortalJob, MailDispatchJob>();
        services.AddSingleton<IPortalJob, ServerJob>();
        services.AddSingleton<IPortalJob, ServerSweepJob>();
        services.AddSingleton<IPortalJob, IdleCullJob>();
        services.AddSingleton<IPortalJob, StorageSamplingJob>();
        services.AddSingleton<IPortalJob, UserAdministrationJob>();
        services.AddSingleton<IPortalJob, UserAdministrationSweepJob>();
        return services;
    }
}
