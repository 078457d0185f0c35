using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Portal.Domain.Mail;
using Quartz;

namespace Portal.Infrastructure.Mail;

public static class MailSetup
{
    /// <summary>IMailer (the outbox), SMTP options and the dispatcher.</summary>
    public static IServiceCollection AddPortalMail(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MailOptions>()
            .Bind(configuration.GetSection(MailOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => System.Net.Mail.MailAddress.TryCreate(o.From, out _), $"{MailOptions.Section}:From is not a mail address.")
            .Validate(o => o.ClaimSeconds >= 2 * o.TimeoutSeconds,
                $"{MailOptions.Section}:ClaimSeconds must be at least twice {MailOptions.Section}:TimeoutSeconds, so that a send ends before its claim does.")
            .ValidateOnStart();
        services.AddSingleton<IMailDispatchTrigger, QuartzMailDispatchTrigger>();
        services.AddSingleton<OutboxMailer>();
        services.AddSingleton<IMailer>(sp => sp.GetRequiredService<OutboxMailer>());
        services.AddSingleton<MailDispatcher>();
        return services;
    }

    /// <summary>
    /// The durable <see cref="MailDispatchJob"/> and its trigger, every <see cref="MailOptions.DispatchIntervalSeconds"/>
    /// (configuration <c>Mail:DispatchIntervalSeconds</c>, default 5). Call inside <c>services.AddQuartz(q => …)</c>
    /// together with <see cref="AddPortalMail"/>.
    /// </summary>
    public static IQuartzBuilder AddMailJobs(this IQuartzBuilder quartz)
    {
        quartz.AddJob<MailDispatchJob>(job => job
            .WithIdentity(MailDispatchJob.Key)
            .WithDescription("Sends the due mail of the outbox.")
            .StoreDurably());
        quartz.AddTrigger<MailDispatchJob>((services, trigger) => trigger
            .WithIdentity(MailDispatchJob.TriggerKey)
            .ForJob(MailDispatchJob.Key)
            .StartNow()
            .WithSimpleSchedule(schedule => schedule
                .WithInterval(TimeSpan.FromSeconds(services.GetRequiredService<IOptions<MailOptions>>().Value.DispatchIntervalSeconds))
                .RepeatForever()
                // A run missed while no node was up is not made up for: the next run sends everything due.
                .WithMisfireInstruction(SimpleTriggerMisfireInstruction.NextWithRemainingCount)));
        return quartz;
    }
}
