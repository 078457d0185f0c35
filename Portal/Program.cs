using System.Net;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.HttpOverrides;
using Portal.Admin;
using Portal.Api;
using Portal.Auth;
using Portal.Components;
using Portal.Hosting;
using Portal.Infrastructure;
using Portal.Infrastructure.Health;
using Portal.Infrastructure.Persistence.Migrations;
using Portal.Localization;
using Portal.Onboarding;
using Portal.Security;
using Radzen;

// `Portal migrate` applies the SQL migrations and exits; scripts/run and scripts/test use it.
var migrateOnly = args is ["migrate", ..];
var builder = WebApplication.CreateBuilder(migrateOnly ? args[1..] : args);

builder.Services.AddPortalInfrastructure(builder.Configuration);
builder.Services.AddPortalAuthentication(builder.Environment);
builder.Services.AddPortalApi();
builder.Services.AddPortalErrorHandling();
builder.Services.AddPortalLocalization();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddRadzenComponents();
builder.Services.AddHttpContextAccessor();
builder.Services.AddOnboardingRateLimits();
builder.Services.AddHealthChecks()
    .AddCheck<DatabaseReadinessCheck>("database", tags: ["ready"])
    .AddCheck<DirectoryReadinessCheck>("ldap", tags: ["ready"]);

// Behind a reverse proxy the client's address (audit, sign-in throttling) comes from X-Forwarded-For, trusted
// only from the proxies listed here; without the list every person would share the proxy's address.
var trustedProxies = builder.Configuration.GetSection("Network:TrustedProxies").Get<string[]>() ?? [];
builder.Services.Configure<ForwardedHeadersOptions>(options =>
{
    options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
    foreach (var proxy in trustedProxies)
    {
        options.KnownProxies.Add(IPAddress.Parse(proxy));
    }
});

var app = builder.Build();

if (migrateOnly || app.Configuration.GetValue("Database:MigrateOnStart", true))
{
    await app.Services.GetRequiredService<SqlMigrationRunner>().ApplyAsync(CancellationToken.None);
    if (migrateOnly)
    {
        return 0;
    }
}

app.UseSecurityHeaders();
if (trustedProxies.Length > 0)
{
    app.UseForwardedHeaders();
}
// The API answers problem details, the pages the error and not-found pages (Hosting/ErrorHandling.cs).
app.UsePortalErrorHandling();
if (!app.Environment.IsDevelopment())
{
    app.UseHsts();
}
app.UseRequestLocalization();
app.UseAuthentication();
app.UseAuthorization();
// The gates send people to a page; an API caller is a token, which has nothing to click (docs/decisions/0011-rest-api.md).
app.UseWhen(context => !context.Request.Path.StartsWithSegments(ApiEndpoints.Prefix), pages =>
{
    pages.UsePasswordChangeGate();
    pages.UseTermsGate();
});
app.UseRateLimiter();
app.UseAntiforgery();
app.UseJobDashboardAudit();

app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") }).AllowAnonymous();
app.MapBlazorWebScript();
app.MapStaticAssets();
app.MapCultureSwitch();
app.MapSignOut();
app.MapOnboardingEndpoints();
app.MapPortalApi();
app.MapJobDashboard();
app.MapOpenApi(ApiEndpoints.OpenApiPath).AllowAnonymous();
// The admin downloads and the import take texts from the query too: the same check as the API's.
var checkedEndpoints = app.MapGroup("").RefuseControlCharacters();
checkedEndpoints.MapAuditExport();
checkedEndpoints.MapUsageExport();
checkedEndpoints.MapImportEndpoints();
// Security/SecurityHeaders.cs sets the whole policy, frame-ancestors 'none' included.
app.MapRazorComponents<App>().AddInteractiveServerRenderMode(options => options.ContentSecurityFrameAncestorsPolicy = "'none'");

await app.RunAsync();
return 0;

/// <summary>Entry point; public so the tests' WebApplicationFactory can host the real app.</summary>
public partial class Program;
