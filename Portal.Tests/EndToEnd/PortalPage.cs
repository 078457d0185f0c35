using System.Collections.Concurrent;
using Microsoft.Playwright;
using Portal.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace Portal.Tests.EndToEnd;

/// <summary>
/// A browser context on the portal, with the steps a person takes, and a screenshot when a test fails. Every journey
/// also checks the Content-Security-Policy: a violation Chromium reports fails the steps that caused it.
/// </summary>
public sealed class PortalPage : IAsyncDisposable
{
    // Chromium logs most violations to the console itself; the event catches the rest (and says which directive).
    private const string ReportViolations =
        "document.addEventListener('securitypolicyviolation', e => console.error("
        + "`Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} in ${e.sourceFile || e.documentURI}`));";

    private readonly IBrowserContext _context;
    private readonly ConcurrentQueue<string> _policyViolations = new();

    private PortalPage(IBrowserContext context, IPage page, Uri baseAddress)
    {
        _context = context;
        Page = page;
        BaseAddress = baseAddress;
    }

    public IPage Page { get; }

    public Uri BaseAddress { get; }

    public static async Task<PortalPage> OpenAsync(BrowserFixture browser, PortalAppFactory portal, string? locale = null)
    {
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = portal.ServerAddress.ToString(), Locale = locale });
        context.SetDefaultTimeout(15_000);
        await context.AddInitScriptAsync(ReportViolations);
        var portalPage = new PortalPage(context, await context.NewPageAsync(), portal.ServerAddress);
        portalPage.Page.Console += (_, message) =>
        {
            if (message.Type == "error" && message.Text.Contains("Content Security Policy", StringComparison.Ordinal))
            {
                portalPage._policyViolations.Enqueue($"{message.Location}: {message.Text}");
            }
        };
        return portalPage;
    }

    /// <summary>What the browser refused under the portal's Content-Security-Policy so far.</summary>
    public IReadOnlyCollection<string> PolicyViolations => _policyViolations;

    /// <summary>The steps, then the check that the browser refused nothing under the Content-Security-Policy.</summary>
    private async Task StepsWithinPolicyAsync(Func<Task> steps)
    {
        await steps();
        Assert.True(_policyViolations.IsEmpty, "Content-Security-Policy violations:\n" + string.Join("\n", _policyViolations));
    }

    public async Task SignInAsync(string username, string password)
    {
        await Page.GotoAsync("/account/sign-in");
        await Page.GetByTestId("username").FillAsync(username);
        await Page.GetByTestId("password").FillAsync(password);
        await Page.GetByTestId("sign-in-submit").ClickAsync();
    }

    /// <summary>Signs in and, when the portal first shows the terms in force (until they were accepted once), accepts them.</summary>
    public async Task SignInAcceptingTermsAsync(string username, string password)
    {
        await SignInAsync(username, password);
        await Page.WaitForURLAsync(url => !url.Contains("/account/sign-in", StringComparison.Ordinal));
        if (Page.Url.Contains("/account/terms", StringComparison.Ordinal))
        {
            await Page.GetByTestId("accept-terms").ClickAsync();
            await Page.WaitForURLAsync(url => !url.Contains("/account/terms", StringComparison.Ordinal));
        }
    }

    /// <summary>Waits until the page's circuit is live, so clicks reach the server.</summary>
    public async Task WaitUntilInteractiveAsync() =>
        await Expect(Page.GetByTestId("app-shell")).ToHaveAttributeAsync("data-interactive", "true");

    public async Task<IReadOnlyList<BrowserContextCookiesResult>> CookiesAsync() => await _context.CookiesAsync();

    /// <summary>
    /// Runs the test's steps; on failure keeps a screenshot in .local/test/screenshots/ and fails with what the page
    /// said (its address and text: a server's failure reason, a form's message), not only which expectation timed out.
    /// </summary>
    public async Task RunAsync(string name, Func<Task> steps)
    {
        try
        {
            await StepsWithinPolicyAsync(steps);
        }
        catch (Exception e)
        {
            Directory.CreateDirectory(BrowserFixture.ScreenshotDirectory);
            await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{name}.png"), FullPage = true });
            string text;
            try
            {
                text = await Page.InnerTextAsync("body", new PageInnerTextOptions { Timeout = 5_000 });
                text = text.Length > 3_000 ? text[..3_000] + " …" : text;
            }
            catch (PlaywrightException unreadable)
            {
                text = $"(the page could not be read: {unreadable.Message})";
            }
            throw new InvalidOperationException($"{e.Message}\n--- {Page.Url} showed ---\n{text}\n---", e);
        }
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}
