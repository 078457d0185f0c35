using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Directory;

namespace Portal.Infrastructure.Accounts;

public static class PasswordSetup
{
    /// <summary>Configuration key of the policy's minimum length (default <see cref="PasswordPolicy.DefaultMinimumLength"/>).</summary>
    public const string MinimumLengthKey = "Passwords:MinimumLength";

    /// <summary>Password policy, the common-password list, password change and sign-in throttling.</summary>
    public static IServiceCollection AddPortalPasswords(this IServiceCollection services, IConfiguration configuration)
    {
        var minimumLength = configuration.GetValue(MinimumLengthKey, PasswordPolicy.DefaultMinimumLength);
        services.AddSingleton(_ => new PasswordPolicy(CommonPasswords.Instance, minimumLength));

        services.AddOptions<SignInThrottleOptions>().Bind(configuration.GetSection(SignInThrottleOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SignInThrottle>();

        services.AddSingleton<IPasswordChanger>(sp => sp.GetRequiredService<LdapDirectory>());
        services.AddSingleton<PasswordChangeService>();
        return services;
    }
}
