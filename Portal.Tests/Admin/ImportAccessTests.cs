using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Portal.Admin;
using Portal.Auth;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>The import page and endpoints in the real app: admins only.</summary>
public sealed class ImportAccessTests(InProcessPortal app) : IClassFixture<InProcessPortal>
{
    private HttpClient Client() => app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static StringContent CsvBody(string text) => new(text, Encoding.UTF8, "text/csv");

    [Theory]
    [InlineData(null)]
    [InlineData("portal-staff")]
    public async Task ImportPageAndEndpoints_StudentOrStaff_RefusedAndNothingStored(string? group)
    {
        using var client = Client();
        var uid = LdapTestUsers.UniqueUsername("imx");
        LdapTestUsers.CreatePerson(uid, "Import-password-1", groups: group is null ? [] : [group]);
        await HttpSignIn.SignInAcceptingTermsAsync(client, uid, "Import-password-1");
        var file = $"name,email,id,department\nMallory,{uid}@keio.jp,S1,Science\n";

        var page = await client.GetAsync(new Uri("/admin/import", UriKind.Relative));
        var preview = await client.PostAsync(new Uri($"{ImportEndpoints.PreviewPath}?fileName=x.csv", UriKind.Relative), CsvBody(file));
        using var confirmRequest = new HttpRequestMessage(HttpMethod.Post, new Uri(ImportEndpoints.ConfirmPath(Guid.NewGuid()), UriKind.Relative));
        confirmRequest.Headers.Add(ImportEndpoints.ConfirmHeader, "1");
        var confirm = await client.SendAsync(confirmRequest);
        var rows = await client.GetAsync(new Uri(ImportEndpoints.RowsPath(Guid.NewGuid()), UriKind.Relative));

        foreach (var response in new[] { page, preview, confirm, rows })
        {
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.StartsWith(AuthenticationSetup.AccessDeniedPath, HttpSignIn.LocalTarget(response), StringComparison.Ordinal);
        }
        await using var db = app.Database.CreateDbContext();
        Assert.DoesNotContain(db.ImportBatches, b => b.UploadedBy == uid);
        Assert.DoesNotContain(db.AuditEvents, e => e.Actor == uid && e.Action.StartsWith("admin.import"));
    }

    [Fact]
    public async Task ImportEndpoints_Anonymous_SentToSignIn()
    {
        using var client = Client();
        var preview = await client.PostAsync(new Uri(ImportEndpoints.PreviewPath, UriKind.Relative), CsvBody("name,email,id,department\n"));
        Assert.Equal(HttpStatusCode.Redirect, preview.StatusCode);
        Assert.StartsWith(AuthenticationSetup.SignInPath, HttpSignIn.LocalTarget(preview), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportPageAndEndpoints_Admin_PreviewAndConfirmOverHttp()
    {
        using var client = Client();
        var env = TestEnvironment.Current;
        await HttpSignIn.SignInAcceptingTermsAsync(client, env.AdminUsername, env.AdminPassword);
        // The app (migrated now) provisions what is confirmed; give it uidNumbers no earlier run left in the test slapd.
        await OnboardingServices.UseOwnUidBlockAsync(app.Database);
        var uid = LdapTestUsers.UniqueUsername("imh");

        var page = await client.GetAsync(new Uri("/admin/import", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        // The prerendered page is not live yet: its file input is disabled, so a file chosen then is not silently lost.
        var fileInput = System.Text.RegularExpressions.Regex.Match(await page.Content.ReadAsStringAsync(), "<input[^>]*data-testid=\"import-file\"[^>]*>");
        Assert.True(fileInput.Success, "no file input on the page");
        Assert.Contains("disabled", fileInput.Value, StringComparison.Ordinal);

        var preview = await client.PostAsync(new Uri($"{ImportEndpoints.PreviewPath}?fileName=http.csv", UriKind.Relative),
            CsvBody($"name,email,id,department\nHttp Student,{uid}@keio.jp,S1,Science\nBroken,not-mail,S2,Science\n"));
        Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
        var batch = await preview.Content.ReadFromJsonAsync<JsonElement>();
        var id = batch.GetProperty("id").GetGuid();
        var rows = batch.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal("Ready", rows[0].GetProperty("status").GetString());
        Assert.Equal(uid, rows[0].GetProperty("username").GetString());
        Assert.Equal("InvalidEmail", rows[1].GetProperty("problems")[0].GetProperty("code").GetString());

        var withoutHeader = await client.PostAsync(new Uri(ImportEndpoints.ConfirmPath(id), UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.BadRequest, withoutHeader.StatusCode);
        using var confirm = new HttpRequestMessage(HttpMethod.Post, new Uri(ImportEndpoints.ConfirmPath(id), UriKind.Relative));
        confirm.Headers.Add(ImportEndpoints.ConfirmHeader, "1");
        var confirmed = await client.SendAsync(confirm);
        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        Assert.Equal(1, (await confirmed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("created").GetInt32());
        using var again = new HttpRequestMessage(HttpMethod.Post, new Uri(ImportEndpoints.ConfirmPath(id), UriKind.Relative));
        again.Headers.Add(ImportEndpoints.ConfirmHeader, "1");
        Assert.Equal(HttpStatusCode.Conflict, (await client.SendAsync(again)).StatusCode);

        var tooLarge = await client.PostAsync(new Uri(ImportEndpoints.PreviewPath, UriKind.Relative), CsvBody(new string('x', 1024 * 1024 + 1)));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        var badHeader = await client.PostAsync(new Uri(ImportEndpoints.PreviewPath, UriKind.Relative), CsvBody("name,mail\n"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badHeader.StatusCode);

        var detail = await client.GetStringAsync(new Uri($"/admin/import/{id}", UriKind.Relative));
        Assert.Contains("data-testid=\"import-batch\"", detail, StringComparison.Ordinal);
        Assert.Contains("http.csv", detail, StringComparison.Ordinal);
    }
}
