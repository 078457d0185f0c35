using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Admin;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

public sealed class AuditExportTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    [Fact]
    public async Task Export_Admin_GetsCsvOfTheFilteredLogWithFormulasDefused()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);

        var response = await client.GetAsync(new Uri($"{AuditExport.Path}?actor={env.AdminUsername}&action=auth.", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("time_utc,actor,action,target,source_address,data", lines[0]);
        Assert.Contains(lines, l => l.Contains(",auth.sign-in,", StringComparison.Ordinal));
        Assert.All(lines.Skip(1), l => Assert.Contains($",{env.AdminUsername},auth.", l, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"")]
    [InlineData("@SUM(1)", "'@SUM(1)")]
    [InlineData("-1", "'-1")]
    public void Field_SpecialCharacters_QuotedAndDefused(string value, string expected)
    {
        Assert.Equal(expected, Csv.Field(value));
    }

    [Fact]
    public async Task Export_StudentOrAnonymous_Refused()
    {
        using var anonymous = Client();
        var refusedAnonymous = await anonymous.GetAsync(new Uri(AuditExport.Path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.Redirect, refusedAnonymous.StatusCode);
        Assert.Contains(AuthenticationSetup.SignInPath, refusedAnonymous.Headers.Location!.ToString(), StringComparison.Ordinal);

        using var student = Client();
        var uid = LdapTestUsers.UniqueUsername("exp");
        LdapTestUsers.CreatePerson(uid, "Student-password-1");
        await HttpSignIn.SignInAcceptingTermsAsync(student, uid, "Student-password-1");
        var refusedStudent = await student.GetAsync(new Uri(AuditExport.Path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.Redirect, refusedStudent.StatusCode);
        Assert.Contains(AuthenticationSetup.AccessDeniedPath, refusedStudent.Headers.Location!.ToString(), StringComparison.Ordinal);
    }
}
