using System.Text.RegularExpressions;
using Portal.Auth;

namespace Portal.Tests.Support;

/// <summary>Signs in through the real static form over HTTP: fetch the page, take its antiforgery token, post.</summary>
public static partial class HttpSignIn
{
    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, string username, string password, string? returnUrl = null)
    {
        var page = await client.GetStringAsync(new Uri(AuthenticationSetup.SignInPath, UriKind.Relative));
        var form = new Dictionary<string, string>
        {
            ["_handler"] = "sign-in",
            ["__RequestVerificationToken"] = AntiforgeryToken(page),
            ["Input.Username"] = username,
            ["Input.Password"] = password,
        };
        if (returnUrl is not null)
        {
            form["Input.ReturnUrl"] = returnUrl;
        }
        return await client.PostAsync(new Uri(AuthenticationSetup.SignInPath, UriKind.Relative), new FormUrlEncodedContent(form));
    }

    /// <summary>Signs in, then accepts the terms in force if the portal asks for them first (it does until accepted once).</summary>
    public static async Task SignInAcceptingTermsAsync(HttpClient client, string username, string password)
    {
        var signIn = await PostAsync(client, username, password);
        if (signIn.StatusCode != System.Net.HttpStatusCode.Redirect)
        {
            // The page's own message says why (wrong password, directory unavailable, throttled).
            var answer = await signIn.Content.ReadAsStringAsync();
            var error = SignInError().Match(answer);
            var text = TagsAndSpace().Replace(error.Success ? error.Groups["text"].Value : answer, " ").Trim();
            Assert.Fail($"Sign-in of {username} answered {(int)signIn.StatusCode} instead of a redirect: {text[..Math.Min(text.Length, 600)]}");
        }
        var home = await client.GetAsync(new Uri("/", UriKind.Relative));
        if (home.StatusCode != System.Net.HttpStatusCode.Redirect || home.Headers.Location?.OriginalString.Contains(AuthenticationSetup.TermsPath, StringComparison.Ordinal) != true)
        {
            return;
        }
        var page = await client.GetStringAsync(home.Headers.Location);
        var accepted = await client.PostAsync(new Uri(AuthenticationSetup.TermsPath, UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "accept-terms",
            ["__RequestVerificationToken"] = AntiforgeryToken(page),
            ["Version"] = TermsVersionField().Match(page).Groups["version"].Value,
        }));
        Assert.Equal(System.Net.HttpStatusCode.Redirect, accepted.StatusCode);
    }

    /// <summary>The redirect target as a local path; fails when it points at another host.</summary>
    public static string LocalTarget(HttpResponseMessage response)
    {
        var location = response.Headers.Location ?? throw new InvalidOperationException($"{response.StatusCode} without Location");
        if (!location.IsAbsoluteUri)
        {
            return location.OriginalString;
        }
        Assert.Equal("localhost", location.Host);
        return location.PathAndQuery;
    }

    public static string AntiforgeryToken(string html)
    {
        var match = TokenInput().Match(html);
        Assert.True(match.Success, "no antiforgery token in the page");
        return match.Groups["token"].Value;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"(?<token>[^\"]+)\"")]
    private static partial Regex TokenInput();

    [GeneratedRegex("data-testid=\"sign-in-error\">(?<text>[^<]*)<")]
    private static partial Regex SignInError();

    [GeneratedRegex(@"(<script[^>]*>.*?</script>|<style[^>]*>.*?</style>|<[^>]+>|\s)+", RegexOptions.Singleline)]
    private static partial Regex TagsAndSpace();

    [GeneratedRegex("name=\"Version\" value=\"(?<version>\\d+)\"")]
    private static partial Regex TermsVersionField();
}
