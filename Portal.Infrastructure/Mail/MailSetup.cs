using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Portal.Domain.Mail;

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
        services.AddSingleton<OutboxMailer>();
        services.AddSingleton<IMailer>(sp => sp.GetRequiredService<OutboxMailer>());
        services.AddSingleton<MailDispatcher>();
        return services;
    }
}
