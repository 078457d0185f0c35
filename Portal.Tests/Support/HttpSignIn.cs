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

    public static string AntiforgeryToken(string html)
    {
        var match = TokenInput().Match(html);
        Assert.True(match.Success, "no antiforgery token in the page");
        return match.Groups["token"].Value;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"(?<token>[^\"]+)\"")]
    private static partial Regex TokenInput();
}
