using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Api;
using Portal.Auth;
using Portal.Domain.Api;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Audit;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>
/// Walks the app's own endpoint table, so a page or endpoint added later is covered without editing this test: every
/// route that asks for the staff or admin policy (pages, form posts, CSV exports, the staff- and admin-only API) is
/// tried by a student, with guessed ids filled in, and each try must be refused and written to the audit log.
/// </summary>
public sealed class EveryAdminRouteAuthorizationTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Password = "Every-route-pass-1";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private sealed record Route(string Method, string Path, string Policy);

    /// <summary>Every routed endpoint whose authorization names a policy, with each route parameter given a guessed value.</summary>
    private List<Route> ProtectedRoutes(Func<string, bool> policyFilter)
    {
        var routes = new List<Route>();
        foreach (var endpoint in app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var policy = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).FirstOrDefault(p => p is not null);
            if (policy is null || !policyFilter(policy))
            {
                continue;
            }
            var path = "/" + string.Join("/", endpoint.RoutePattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
            {
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal => literal.Content,
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter => Guess(parameter),
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternSeparatorPart separator => separator.Content,
                _ => "",
            }))));
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET", "POST"];
            routes.AddRange(methods.Select(m => new Route(m, path, policy)));
        }
        return [.. routes.Distinct()];
    }

    private static string Guess(Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter) =>
        parameter.ParameterPolicies.Any(p => p.Content == "guid") ? Guid.NewGuid().ToString()
        : parameter.ParameterPolicies.Any(p => p.Content is "int" or "long") ? "1"
        : parameter.Name switch
        {
            "username" => TestEnvironment.Current.AdminUsername,
            "table" => "users",
            _ => "1",
        };

    private async Task<int> DeniedAsync(string actor, string path, string method)
    {
        await using var db = await app.Database.ContextFactory().CreateDbContextAsync();
        var events = await db.AuditEvents.AsNoTracking().Where(e => e.Actor == actor && e.Action == "auth.denied" && e.Target == path).ToListAsync();
        return events.Count(e => e.Data.Contains($"\"{method}\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PagesAndEndpoints_Student_EachRefusedAndAudited()
    {
        var uid = LdapTestUsers.UniqueUsername("every");
        LdapTestUsers.CreatePerson(uid, Password);
        using var client = Client();
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, Password);
        var routes = ProtectedRoutes(p => p is AuthenticationSetup.AdminPolicy or AuthenticationSetup.StaffPolicy);

        // The admin console as the issue names it, at least: users, import, announcements, usage, jobs, audit, tokens, review.
        foreach (var expected in new[] { "/admin/users", "/admin/import", "/admin/announcements", "/admin/usage", "/admin/jobs", "/admin/audit", "/admin/tokens", "/review" })
        {
            Assert.Contains(routes, r => r.Path == expected);
        }
        foreach (var route in routes)
        {
            using var request = new HttpRequestMessage(new HttpMethod(route.Method), route.Path);
            if (route.Method == "POST")
            {
                request.Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["reason"] = "guess", ["role"] = "Admin" });
            }
            var response = await client.SendAsync(request);

            var refused = response.StatusCode == HttpStatusCode.Forbidden
                || (response.StatusCode == HttpStatusCode.Redirect && response.Headers.Location!.ToString().Contains(AuthenticationSetup.AccessDeniedPath, StringComparison.Ordinal));
            Assert.True(refused, $"{route.Method} {route.Path} answered {(int)response.StatusCode} {response.Headers.Location}");
            Assert.True(await DeniedAsync(uid, route.Path, route.Method) >= 1, $"{route.Method} {route.Path} was refused without an audit record");
        }
    }

    [Fact]
    public async Task ApiRoutesForStaffOrAdmins_StudentTokenWithEveryScope_EachRefusedAndAudited()
    {
        var uid = LdapTestUsers.UniqueUsername("everyapi");
        LdapTestUsers.CreatePerson(uid, Password);
        using (var signIn = Client())
        {
            await HttpSignIn.SignInAcceptingTermsAsync(signIn, uid, Password);
        }
        var issued = await app.Services.GetRequiredService<AccessTokenService>().IssueAsync(uid, "every scope", AccessToken.All,
            DateTimeOffset.UtcNow.AddDays(1), new AuditActor(TestEnvironment.Current.AdminUsername, null), CancellationToken.None);
        var secret = Assert.IsType<IssueResult.Issued>(issued).Token.Secret;
        using var client = Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        var staffOrAdminScopes = new[] { ApiScopes.UsersRead, ApiScopes.UsersWrite, ApiScopes.ApplicationsRead, ApiScopes.ApplicationsWrite, ApiScopes.UsageRead }
            .Select(ApiPolicies.For).ToHashSet();
        var routes = ProtectedRoutes(staffOrAdminScopes.Contains);
        Assert.True(routes.Count >= 10, $"only {routes.Count} API routes found");

        foreach (var route in routes)
        {
            using var request = new HttpRequestMessage(new HttpMethod(route.Method), route.Path);
            if (route.Method == "POST")
            {
                request.Content = System.Net.Http.Json.JsonContent.Create(new { reason = "guess" });
            }
            var response = await client.SendAsync(request);

            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{route.Method} {route.Path} answered {(int)response.StatusCode}");
            Assert.True(await DeniedAsync(uid, route.Path, route.Method) >= 1, $"{route.Method} {route.Path} was refused without an audit record");
        }
    }
}
