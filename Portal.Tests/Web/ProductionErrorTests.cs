using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Auth;
using Portal.Domain.Api;
using Portal.Infrastructure.Api;
using Portal.Infrastructure.Audit;
using Portal.Security;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>
/// The portal in the Production environment: a failed page shows the error page with a reference that is in the log,
/// and the API answers every failure and refusal with problem details.
/// </summary>
public sealed partial class ProductionErrorTests(ProductionErrorTests.ProductionPortal app) : IClassFixture<ProductionErrorTests.ProductionPortal>
{
    /// <summary>
    /// The real portal in Production, plus two addresses that throw as a defect in the portal's code would (a fake
    /// failure: nothing in the portal fails on purpose), and a logger that keeps what the portal logs.
    /// </summary>
    public sealed class ProductionPortal() : PortalAppFactory(kestrel: false, overrides: null)
    {
        public const string FailingPage = "/test/failing-page";
        public const string FailingApi = "/api/v1/test/failing";

        public CollectingLoggerProvider Logs { get; } = new();

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseEnvironment("Production");
            builder.ConfigureServices(services =>
            {
                services.AddSingleton<ILoggerProvider>(Logs);
                services.AddSingleton<IStartupFilter, FailingAddresses>();
            });
        }

        private sealed class FailingAddresses : IStartupFilter
        {
            public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
            {
                next(app);
                // After the portal's own pipeline: reached only by addresses no endpoint of the portal serves.
                app.Use((context, nextMiddleware) => context.Request.Path == FailingPage || context.Request.Path == FailingApi
                    ? throw new InvalidOperationException("Test failure thrown by the portal's code.")
                    : nextMiddleware(context));
            };
        }
    }

    public sealed record LogEntry(string Category, LogLevel Level, string Message, Exception? Exception);

    public sealed class CollectingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<LogEntry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Collector(categoryName, Entries);

        public void Dispose()
        {
        }

        private sealed class Collector(string category, ConcurrentQueue<LogEntry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue(new LogEntry(category, logLevel, formatter(state, exception), exception));
        }
    }

    // Production sets the auth cookie Secure, so the client speaks https (TestServer needs no certificate).
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions
    {
        AllowAutoRedirect = false,
        HandleCookies = true,
        BaseAddress = new Uri("https://localhost"),
    });

    private async Task<HttpClient> AdminApiClientAsync(ApiScopes scopes)
    {
        var env = TestEnvironment.Current;
        using (var signIn = Client())
        {
            await HttpSignIn.SignInAcceptingTermsAsync(signIn, env.AdminUsername, env.AdminPassword);
        }
        var issued = await app.Services.GetRequiredService<AccessTokenService>().IssueAsync(env.AdminUsername, "production test", scopes,
            DateTimeOffset.UtcNow.AddDays(1), new AuditActor(env.AdminUsername, null), CancellationToken.None);
        var client = Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Assert.IsType<IssueResult.Issued>(issued).Token.Secret);
        return client;
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)status, document.RootElement.GetProperty("status").GetInt32());
        return document.RootElement.Clone();
    }

    private LogEntry LoggedFailure(string reference) =>
        Assert.Single(app.Logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains(reference, StringComparison.Ordinal));

    [Theory]
    [InlineData("en", "Something went wrong", "Reference: ")]
    [InlineData("ja", "エラーが発生しました", "参照番号: ")]
    public async Task PageException_Production_ErrorPageWithReferenceThatIsLogged(string culture, string title, string referenceLabel)
    {
        using var client = Client();
        client.DefaultRequestHeaders.AcceptLanguage.Add(new StringWithQualityHeaderValue(culture));

        var response = await client.GetAsync(new Uri(ProductionPortal.FailingPage, UriKind.Relative));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
        Assert.Contains($">{title}</h1>", html, StringComparison.Ordinal);
        var reference = ReferenceShown().Match(html);
        Assert.True(reference.Success, "no reference on the error page");
        Assert.StartsWith(referenceLabel, reference.Groups["text"].Value, StringComparison.Ordinal);
        var logged = LoggedFailure(reference.Groups["text"].Value[referenceLabel.Length..]);
        Assert.IsType<InvalidOperationException>(logged.Exception);
        Assert.Contains(ProductionPortal.FailingPage, logged.Message, StringComparison.Ordinal);
        Assert.Equal(SecurityHeaders.PageContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task UnknownPage_Production_NotFoundPageForABrowserOnly()
    {
        using var client = Client();
        using var navigation = new HttpRequestMessage(HttpMethod.Get, "/no-such-page");
        navigation.Headers.Accept.ParseAdd("text/html,application/xhtml+xml,*/*;q=0.8");

        var page = await client.SendAsync(navigation);
        var script = await client.GetAsync(new Uri("/no-such-page", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains(">Page not found</h1>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, script.StatusCode);
        Assert.Empty(await script.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task SignOut_WithoutAntiforgeryToken_Production_BadRequestErrorPage()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var response = await client.PostAsync(new Uri(AuthenticationSetup.SignOutPath, UriKind.Relative), new FormUrlEncodedContent([]));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var html = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
        Assert.Contains(">The request could not be processed</h1>", html, StringComparison.Ordinal);
        Assert.Matches(ReferenceShown(), html);
        // Still signed in: the refused post changed nothing.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task ApiException_Production_ProblemDetailsWithTheLoggedReference()
    {
        using var client = Client();

        var response = await client.GetAsync(new Uri(ProductionPortal.FailingApi, UriKind.Relative));

        var problem = await ProblemAsync(response, HttpStatusCode.InternalServerError);
        var reference = problem.GetProperty("traceId").GetString()!;
        Assert.Contains(reference, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Test failure", problem.GetRawText(), StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(LoggedFailure(reference).Exception);
        Assert.Equal(SecurityHeaders.ApiContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task Api_LimitNotANumber_Production_ProblemDetailsNamingLimit()
    {
        using var client = await AdminApiClientAsync(ApiScopes.UsersRead);

        var response = await client.GetAsync(new Uri("/api/v1/users?limit=abc", UriKind.Relative));

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("limit", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/v1/users?search=%00", "search")]
    [InlineData("/api/v1/users?department=a%00b", "department")]
    [InlineData("/api/v1/applications?search=%00", "search")]
    [InlineData("/api/v1/applications?department=%00", "department")]
    public async Task Api_NulInQuery_Production_ValidationProblemNamingTheField(string path, string field)
    {
        using var client = await AdminApiClientAsync(ApiScopes.UsersRead | ApiScopes.ApplicationsRead);

        var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
    }

    [Fact]
    public async Task Api_UnknownAddressAndNoToken_Production_ProblemDetails()
    {
        using var anonymous = Client();
        using var admin = await AdminApiClientAsync(ApiScopes.UsersRead);

        await ProblemAsync(await anonymous.GetAsync(new Uri("/api/v1/users", UriKind.Relative)), HttpStatusCode.Unauthorized);
        await ProblemAsync(await admin.GetAsync(new Uri("/api/v1/no-such-thing", UriKind.Relative)), HttpStatusCode.NotFound);
        await ProblemAsync(await admin.GetAsync(new Uri("/api/v1/users/nobody-at-all", UriKind.Relative)), HttpStatusCode.NotFound);
        await ProblemAsync(await admin.GetAsync(new Uri("/api/v1/applications", UriKind.Relative)), HttpStatusCode.Forbidden);
        var body = await admin.GetFromJsonAsync<JsonElement>("/api/v1/users?limit=1");
        Assert.Equal(1, body.GetProperty("limit").GetInt32());
    }

    [GeneratedRegex("data-testid=\"error-reference\">(?<text>[^<]+)<")]
    private static partial Regex ReferenceShown();
}
