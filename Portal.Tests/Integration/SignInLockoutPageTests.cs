using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>What the sign-in page says about an account the directory has locked, through the real portal (over StartTLS).</summary>
public sealed partial class SignInLockoutPageTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private const string Password = "Correct-horse-battery-9";

    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static async Task<string> ErrorTextAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var match = ErrorDiv().Match(await response.Content.ReadAsStringAsync());
        Assert.True(match.Success, "no sign-in error shown");
        return WebUtility.HtmlDecode(match.Groups["text"].Value).Trim();
    }

    [Fact]
    public async Task Post_FailureThatLocksTheAccountThenTheRightPassword_BothSayTryAgainWhenTheDirectoryUnlocks()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password, mustChangePassword: false,
            LdapTestUsers.CreateLockoutPolicy(maxFailures: 1, TimeSpan.FromMinutes(10), failureCountInterval: TimeSpan.FromMinutes(10)));

        var afterFailure = await ErrorTextAsync(await HttpSignIn.PostAsync(client, uid, "wrong-password-1"));
        var rightPassword = await ErrorTextAsync(await HttpSignIn.PostAsync(client, uid, Password));

        Assert.Equal("Too many failed attempts. Try again in 10 minutes.", afterFailure);
        Assert.Equal("Too many failed attempts. Try again in 10 minutes.", rightPassword);
    }

    [Fact]
    public async Task Post_LockedByAnAdministratorInTheDirectory_SaysLockedNotWrongPassword()
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername();
        LdapTestUsers.CreatePerson(uid, Password);
        LdapTestUsers.Lock(uid);

        var text = await ErrorTextAsync(await HttpSignIn.PostAsync(client, uid, Password));

        Assert.Equal("This account is locked. Contact the service desk.", text);
    }

    [GeneratedRegex("""data-testid="sign-in-error"[^>]*>(?<text>[^<]*)<""")]
    private static partial Regex ErrorDiv();
}
