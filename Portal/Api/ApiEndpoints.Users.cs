namespace Portal.Api;

public static partial class ApiEndpoints
{
    private static void MapUsersAndUsage(RouteGroupBuilder api)
    {
        _ = api;
    }
}
