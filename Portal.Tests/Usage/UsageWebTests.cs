using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;
using Portal.Admin;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Usage;

/// <summary>The usage dashboard and its CSV exports, in-process on a real database: admins only.</summary>
public sealed class UsageWebTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string StudentPassword = "Student-password-1";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private async Task<HttpClient> AdminAsync()
    {
        var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);
        return client;
    }

    private async Task<HttpClient> StudentAsync()
    {
        var client = Client();
        var uid = LdapTestUsers.UniqueUsername("usg");
        LdapTestUsers.CreatePerson(uid, StudentPassword);
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, StudentPassword);
        return client;
    }

    [Fact]
    public async Task Dashboard_Admin_RendersEveryChartWithItsTableAndExport()
    {
        using var client = await AdminAsync();

        var response = await client.GetAsync(new Uri("/admin/usage", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        foreach (var chart in new[] { "chart-applications", "chart-concurrency", "chart-top-users", "chart-departments", "chart-spawn", "chart-failures" })
        {
            Assert.Contains($"data-testid=\"{chart}\"", html, StringComparison.Ordinal);
        }
        foreach (var table in UsageExport.Tables)
        {
            Assert.Contains($"data-testid=\"export-{table}\"", html, StringComparison.Ordinal);
        }
        Assert.Contains("data-testid=\"table-top-users\"", html, StringComparison.Ordinal);
        Assert.Contains("rz-chart", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/admin/usage")]
    [InlineData("/admin/jobs")]
    [InlineData("/admin/usage/export/top-users.csv")]
    public async Task AdminPages_Student_Refused(string path)
    {
        using var student = await StudentAsync();
        var refused = await student.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        Assert.Contains(AuthenticationSetup.AccessDeniedPath, refused.Headers.Location!.ToString(), StringComparison.Ordinal);

        using var anonymous = Client();
        var refusedAnonymous = await anonymous.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.Redirect, refusedAnonymous.StatusCode);
        Assert.Contains(AuthenticationSetup.SignInPath, refusedAnonymous.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsPage_Admin_RendersItsSections()
    {
        using var client = await AdminAsync();
        var response = await client.GetAsync(new Uri("/admin/jobs", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        foreach (var section in new[] { "jobs-engine", "jobs-provisioning", "jobs-servers", "jobs-mail" })
        {
            Assert.Contains($"data-testid=\"{section}\"", html, StringComparison.Ordinal);
        }
        Assert.Matches("<a href=\"/admin/hangfire\"[^>]*data-testid=\"jobs-dashboard-link\"", html);
        // This in-process portal runs a Hangfire server itself (named host:pid:…): the page lists it once it has reported.
        var node = $":{Environment.ProcessId}:";
        await Eventually.HoldsAsync(async () =>
        {
            html = await client.GetStringAsync(new Uri("/admin/jobs", UriKind.Relative));
            return html.Contains(node, StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), () => Task.FromResult($"no node with {node} on the jobs page"));
    }

    [Fact]
    public async Task Export_Admin_GetsCsvOfTheTableForThePeriod_AndItIsAudited()
    {
        // A user far in the past so no other test's rows share the period: 3 h with 2 GPUs on 1 Jan 2001.
        var user = LdapTestUsers.UniqueUsername("exu");
        var rows = new UsageRows(app.Database);
        await rows.AccountAsync(user, "Faculty of \"Export\", Science");
        await rows.SessionAsync(user, "2001-01-01T08:59:00Z", "2001-01-01T09:00:00Z", "2001-01-01T12:00:00Z", gpus: 2);
        using var client = await AdminAsync();
        var query = "?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z";

        var top = await client.GetAsync(new Uri($"{UsageExport.PathPrefix}top-users.csv{query}", UriKind.Relative));
        var departments = await client.GetAsync(new Uri($"{UsageExport.PathPrefix}departments.csv{query}", UriKind.Relative));
        var days = await client.GetAsync(new Uri($"{UsageExport.PathPrefix}days.csv{query}", UriKind.Relative));
        var unknown = await client.GetAsync(new Uri($"{UsageExport.PathPrefix}passwords.csv{query}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, top.StatusCode);
        Assert.Equal("text/csv", top.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["username,hours,gpu_hours,sessions", $"{user},3,6,1"], await LinesAsync(top));
        Assert.Equal(["department,hours,gpu_hours,sessions", "\"Faculty of \"\"Export\"\", Science\",3,6,1"], await LinesAsync(departments));
        Assert.Equal(["day_utc,hours,gpu_hours,sessions", "2001-01-01,3,6,1"], await LinesAsync(days));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        foreach (var table in UsageExport.Tables)
        {
            var response = await client.GetAsync(new Uri($"{UsageExport.PathPrefix}{table}.csv{query}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.NotEmpty(await LinesAsync(response));
        }

        await using var command = app.Database.DataSource.CreateCommand(
            "SELECT count(*) FROM audit_events WHERE action = 'usage.exported' AND actor = @actor AND data->>'table' = 'top-users'");
        command.Parameters.Add(new NpgsqlParameter("actor", TestEnvironment.Current.AdminUsername));
        Assert.True((long)(await command.ExecuteScalarAsync())! >= 1);
    }

    [Fact]
    public async Task QuotaCard_NoSampleThenASample_ShowsNotMeasuredThenUsedAgainstTheLimit()
    {
        var client = Client();
        var uid = LdapTestUsers.UniqueUsername("qta");
        LdapTestUsers.CreatePerson(uid, StudentPassword);
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, StudentPassword);

        var before = await (await client.GetAsync(new Uri("/server", UriKind.Relative))).Content.ReadAsStringAsync();
        Assert.Contains("data-testid=\"quota-storage-not-measured\"", before, StringComparison.Ordinal);

        // 25 GiB of the default plan's 100.
        await new UsageRows(app.Database).ExecuteAsync("INSERT INTO storage_samples (username, sampled_at, bytes) VALUES (@u, now(), @b)",
            ("u", uid), ("b", 25L * 1024 * 1024 * 1024));
        var after = await (await client.GetAsync(new Uri("/server", UriKind.Relative))).Content.ReadAsStringAsync();
        Assert.Contains("data-testid=\"quota-storage-bar\"", after, StringComparison.Ordinal);
        Assert.Matches("quota-storage-used-text\"[^>]*>25 GB of 100 GB<", after);
        client.Dispose();
    }

    private static async Task<string[]> LinesAsync(HttpResponseMessage response) =>
        (await response.Content.ReadAsStringAsync()).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
}
