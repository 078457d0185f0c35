using Microsoft.Extensions.DependencyInjection;

namespace Portal.Infrastructure.Admin.Users;

public static class UserAdministrationSetup
{
    /// <summary>The services of user administration (called from DependencyInjection); its jobs are in JobsSetup.</summary>
    public static IServiceCollection AddUserAdministration(this IServiceCollection services)
    {
        services.AddSingleton<UserAdminService>();
        services.AddSingleton<UserDirectorySync>();
        return services;
    }
}
