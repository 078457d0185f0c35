using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Auth;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Accounts;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>The static change-password form over HTTP without a browser, on the real slapd.</summary>
public sealed partial class ChangePasswordFormTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Initial = "Initial-password-1";
    private const string Chosen = "Violet river under the moon";

    private static readonly Uri ChangePasswordUri = new(AuthenticationSetup.ChangePasswordPath, UriKind.Relative);

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    [Fact]
    public async Task Get_Anonymous_RedirectsToSignIn()
    {
        using var client = Client();

        var response = await client.GetAsync(ChangePasswordUri);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(AuthenticationSetup.SignInPath, response.Headers.Location!.AbsolutePath);
    }

    [Fact]
    public async Task Post_ForcedChange_NewCookieReachesHomeAndNewPasswordSignsIn()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        await HttpSignIn.PostAsync(client, uid, Initial);
        var page = await client.GetStringAsync(ChangePasswordUri);

        var response = await PostAsync(client, page, Initial, Chosen, Chosen);
        var home = await client.GetAsync(new Uri("/", UriKind.Relative));
        var pageAfter = await client.GetStringAsync(ChangePasswordUri);

        Assert.Contains("data-testid=\"must-change-notice\"", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", HttpSignIn.LocalTarget(response));
        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(AuthenticationSetup.CookieName + "=", StringComparison.Ordinal));
        // Home, or whatever gate comes after the password (the terms), but never back to change the password.
        Assert.True(home.StatusCode == HttpStatusCode.OK
            || !HttpSignIn.LocalTarget(home).StartsWith(AuthenticationSetup.ChangePasswordPath, StringComparison.Ordinal), $"{home.StatusCode} {home.Headers.Location}");
        Assert.DoesNotContain("must-change-notice", pageAfter, StringComparison.Ordinal);
        using var fresh = Client();
        Assert.Equal("/", HttpSignIn.LocalTarget(await HttpSignIn.PostAsync(fresh, uid, Chosen)));
        var old = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Initial, CancellationToken.None);
        Assert.IsType<DirectoryAuthentication.Refused>(old);
    }

    [Fact]
    public async Task Post_SelfServiceChange_WorksWithoutMustChangeNotice()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("stu");
        LdapTestUsers.CreatePerson(uid, Initial);
        await HttpSignIn.PostAsync(client, uid, Initial);
        var page = await client.GetStringAsync(ChangePasswordUri);

        var response = await PostAsync(client, page, Initial, Chosen, Chosen);

        Assert.DoesNotContain("must-change-notice", page, StringComparison.Ordinal);
        Assert.Equal("/", HttpSignIn.LocalTarget(response));
        var outcome = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Chosen, CancellationToken.None);
        Assert.IsType<DirectoryAuthentication.Succeeded>(outcome);
    }

    [Fact]
    public async Task Post_WrongCurrentPassword_ShowsMessageAndChangesNothing()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        await HttpSignIn.PostAsync(client, uid, Initial);

        var response = await PostAsync(client, await client.GetStringAsync(ChangePasswordUri), "Not-the-password-1", Chosen, Chosen);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal("Your current password is incorrect. Nothing was changed.", ErrorText(html));
        Assert.DoesNotContain("Not-the-password-1", html, StringComparison.Ordinal);
        Assert.DoesNotContain(Chosen, html, StringComparison.Ordinal);
        var still = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Initial, CancellationToken.None);
        Assert.True(Assert.IsType<DirectoryAuthentication.Succeeded>(still).User.MustChangePassword);
        // Still made to change it: the cookie was not replaced.
        Assert.Equal(AuthenticationSetup.ChangePasswordPath, HttpSignIn.LocalTarget(await client.GetAsync(new Uri("/", UriKind.Relative))));
    }

    [Theory]
    [InlineData("en", "password1234", "The new password is on a list of common passwords that attackers try first. Choose something less predictable.")]
    [InlineData("en", "short-pw", "The new password is too short: use at least 12 characters.")]
    [InlineData("en", Initial, "The new password is the same as your current one. Choose a different password.")]
    [InlineData("en", "aaaaaaaaaaaa", "The new password is too predictable: it repeats a few characters or runs through neighbouring ones (like aaaa, abab, abcd or 4321). Choose something less predictable.")]
    [InlineData("ja", "abcdefghijklmn", "新しいパスワードは推測されやすい形です(aaaa、abab、abcd、4321 のような、少数の文字の繰り返しや連続した文字の並び)。推測されにくいものを選んでください。")]
    [InlineData("ja", "short-pw", "新しいパスワードが短すぎます。12 文字以上にしてください。")]
    [InlineData("ja", "password1234", "新しいパスワードは、攻撃者が最初に試す「よく使われるパスワード」の一覧に含まれています。推測されにくいものを選んでください。")]
    public async Task Post_PolicyRejection_SaysWhyInTheLanguage(string language, string newPassword, string expected)
    {
        using var client = Client();
        client.DefaultRequestHeaders.AcceptLanguage.Add(new StringWithQualityHeaderValue(language));
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        await HttpSignIn.PostAsync(client, uid, Initial);

        var response = await PostAsync(client, await client.GetStringAsync(ChangePasswordUri), Initial, newPassword, newPassword);

        Assert.Equal(expected, ErrorText(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Post_UsernameInNewPassword_SaysSo()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        await HttpSignIn.PostAsync(client, uid, Initial);
        var withName = $"my name is {uid}!";

        var response = await PostAsync(client, await client.GetStringAsync(ChangePasswordUri), Initial, withName, withName);

        Assert.Equal("The new password contains your username. Choose one without it.", ErrorText(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Post_RepeatDiffers_SaysSoAndChangesNothing()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        await HttpSignIn.PostAsync(client, uid, Initial);

        var response = await PostAsync(client, await client.GetStringAsync(ChangePasswordUri), Initial, Chosen, Chosen + "!");

        Assert.Equal("The two new passwords differ. Type the same new password twice.", ErrorText(await response.Content.ReadAsStringAsync()));
        var still = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Initial, CancellationToken.None);
        Assert.IsType<DirectoryAuthentication.Succeeded>(still);
    }

    [Fact]
    public async Task Post_WithoutAntiforgeryToken_RejectedAndNothingChanged()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("new");
        LdapTestUsers.CreatePerson(uid, Initial, mustChangePassword: true);
        await HttpSignIn.PostAsync(client, uid, Initial);

        var response = await client.PostAsync(ChangePasswordUri, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "change-password",
            ["Input.CurrentPassword"] = Initial,
            ["Input.NewPassword"] = Chosen,
            ["Input.RepeatPassword"] = Chosen,
        }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var still = await LdapTestUsers.Directory().AuthenticateAsync(Username.Parse(uid), Initial, CancellationToken.None);
        Assert.IsType<DirectoryAuthentication.Succeeded>(still);
    }

    [Fact]
    public void Resources_EveryReasonThePageCanShow_InEnglishAndJapanese()
    {
        var keys = Enum.GetNames<PasswordRejection>().Select(r => $"Password.Rejected.{r}")
            .Concat(Enum.GetNames<DirectoryPasswordRejection>().Select(r => $"Password.Directory.{r}"))
            .Concat(Enum.GetNames<SignInFailure>().Select(f => $"SignIn.Failed.{f}"))
            .Append("Throttle.RetryAfterSeconds").Append("Throttle.RetryAfterMinutes")
            .ToList();

        foreach (var file in new[] { "Text.resx", "Text.ja.resx" })
        {
            var present = XDocument.Load(Path.Combine(TestEnvironment.RepositoryRoot, "Portal", "Resources", file)).Root!
                .Elements("data").Select(d => (string)d.Attribute("name")!).ToHashSet();
            Assert.Equal([], keys.Except(present));
        }
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string page, string current, string next, string repeat) =>
        await client.PostAsync(ChangePasswordUri, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "change-password",
            ["__RequestVerificationToken"] = HttpSignIn.AntiforgeryToken(page),
            ["Input.CurrentPassword"] = current,
            ["Input.NewPassword"] = next,
            ["Input.RepeatPassword"] = repeat,
        }));

    private static string ErrorText(string html)
    {
        var match = ErrorBlock().Match(html);
        Assert.True(match.Success, "no change-password error shown");
        return WebUtility.HtmlDecode(match.Groups["text"].Value);
    }

    [GeneratedRegex("data-testid=\"change-password-error\">(?<text>[^<]*)<")]
    private static partial Regex ErrorBlock();
}
