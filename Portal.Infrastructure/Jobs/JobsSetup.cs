using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Usage;
using Quartz;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// Quartz 4 with its persistent ADO store on the portal's PostgreSQL, clustered, so several portal nodes share the
/// work and a job survives a restart. The tables come from migrations/0003 (docs/decisions/0006-jobs.md).
/// </summary>
public static class JobsSetup
{
    public static IServiceCollection AddPortalJobs(this IServiceCollection services, IConfiguration configuration, string connectionString)
    {
        services.AddQuartz(quartz =>
        {
            // Server jobs mostly wait on a backend; enough slots that many users starting at once do not queue.
            quartz.UseDefaultThreadPool(Math.Max(2, configuration.GetValue("Jobs:MaxConcurrency", 20)));
            quartz.UsePersistentStore(store =>
            {
                store.UsePostgres(connectionString);
                store.UseClustering(clustering => clustering.CheckinInterval = TimeSpan.FromSeconds(10));
            });
            quartz.AddProvisioningJobs(configuration);
            quartz.AddMailJobs();
            quartz.AddServerJobs(configuration);
            quartz.AddUsageJobs(configuration);
            Admin.Users.UserAdministrationSetup.AddUserAdministrationJobs(quartz);
        });
        services.AddQuartzHostedService(options => options.WaitForJobsToComplete = true);
        return services;
    }
}
