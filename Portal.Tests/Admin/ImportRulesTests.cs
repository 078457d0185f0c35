using Microsoft.EntityFrameworkCore;
using Portal.Domain.Onboarding;
using Portal.Domain.Onboarding.Import;
using Portal.Infrastructure.Onboarding.Import;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>The bulk import applies the same rules as /apply: the one name rule, and one person, one account.</summary>
public sealed class ImportRulesTests : MigratedDatabaseTest
{
    private ImportSupport _support = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _support = new ImportSupport(Database);
    }

    private async Task<Dictionary<int, ImportRowView>> PreviewAsync(params string[] rows)
    {
        var preview = await _support.Import.PreviewAsync(ImportSupport.Csv(["name,email,id,department,username", .. rows]), "rules.csv",
            ImportSupport.Admin, "192.0.2.9", CancellationToken.None);
        var batch = Assert.IsType<ImportBatch>(preview.Batch);
        return (await _support.Import.RowsAsync(batch.Id, problemsOnly: false, 0, 100, CancellationToken.None)).Items.ToDictionary(r => r.Row.RowNumber);
    }

    [Fact]
    public async Task Preview_NamesWithParenthesesAndBidiOverride_SameVerdictAsTheApplicationForm()
    {
        var a = LdapTestUsers.UniqueUsername("imr");
        var b = LdapTestUsers.UniqueUsername("imr");

        var rows = await PreviewAsync(
            $"山田 太郎 (Taro Yamada),{a}@keio.jp,S0000001,Faculty of Science (Physics),{a}",
            $"Taro \u202EadamaY,{b}@keio.jp,S0000002,Faculty of Science,{b}");

        Assert.Equal(ImportRowStatus.Ready, rows[2].Status);
        Assert.Equal("山田 太郎 (Taro Yamada)", rows[2].Row.FullName);
        Assert.Equal([new ImportProblem(ImportRow.Columns.Name, ApplicationForm.Codes.InvalidCharacters)], rows[3].Row.Problems);
        // The form says the same of both names.
        Assert.Empty(ApplicationForm.Validate("山田 太郎 (Taro Yamada)", $"{a}@keio.jp", "S0000001", "Faculty of Science (Physics)", a, "x", true, ["keio.jp"]).Errors);
        Assert.Equal(ApplicationForm.Codes.InvalidCharacters,
            Assert.Single(ApplicationForm.Validate("Taro \u202EadamaY", $"{b}@keio.jp", "S0000002", "Faculty of Science", b, "x", true, ["keio.jp"]).Errors).Code);
    }

    [Fact]
    public async Task Preview_NulInEachField_RowErrorNamingRowAndFieldOtherRowsAsUsual()
    {
        var u = Enumerable.Range(0, 6).Select(_ => LdapTestUsers.UniqueUsername("imz")).ToList();

        var rows = await PreviewAsync(
            $"Taro\u0000Yamada,{u[0]}@keio.jp,S0000011,Faculty of Science,{u[0]}",
            $"Hanako Sato,{u[1]}\u0000@keio.jp,S0000012,Faculty of Science,{u[1]}",
            $"Jiro Suzuki,{u[2]}@keio.jp,S00\u000000013,Faculty of Science,{u[2]}",
            $"Saburo Ito,{u[3]}@keio.jp,S0000014,\"Faculty\u0000of Science\",{u[3]}",
            $"Shiro Kato,{u[4]}@keio.jp,S0000015,Faculty of Science,{u[4]}\u0000",
            $"Goro Abe,{u[5]}@keio.jp,S0000016,Faculty of Science,{u[5]}");

        // The same verdict as the application form gives each field (InvalidCharacters names control characters).
        Assert.Equal([new ImportProblem(ImportRow.Columns.Name, ApplicationForm.Codes.InvalidCharacters)], rows[2].Row.Problems);
        Assert.Equal([new ImportProblem(ImportRow.Columns.Email, ApplicationForm.Codes.InvalidEmail)], rows[3].Row.Problems);
        Assert.Equal([new ImportProblem(ImportRow.Columns.Id, ApplicationForm.Codes.InvalidCharacters)], rows[4].Row.Problems);
        Assert.Equal([new ImportProblem(ImportRow.Columns.Department, ApplicationForm.Codes.InvalidCharacters)], rows[5].Row.Problems);
        Assert.Equal([new ImportProblem(ImportRow.Columns.Username, ApplicationForm.Codes.InvalidUsername)], rows[6].Row.Problems);
        Assert.All(Enumerable.Range(2, 5), row => Assert.Equal(ImportRowStatus.Invalid, rows[row].Status));
        Assert.Equal(ImportRowStatus.Ready, rows[7].Status);
        // What is kept of a refused row, to be shown, holds no NUL.
        Assert.Equal("Taro\uFFFDYamada", rows[2].Row.FullName);
        await using var db = Database.CreateDbContext();
        Assert.False(await db.Applications.AnyAsync());
    }

    [Fact]
    public async Task Preview_NulInHeaderOrFileName_FileRefusedOrNameCleanedNeverAnError()
    {
        var uid = LdapTestUsers.UniqueUsername("imz");

        var header = await _support.Import.PreviewAsync(ImportSupport.Csv("name,email,id,department,user\u0000name", $"Taro Yamada,{uid}@keio.jp,S0000021,Science,{uid}"),
            "header.csv", ImportSupport.Admin, null, CancellationToken.None);
        var named = await _support.Import.PreviewAsync(ImportSupport.Csv("name,email,id,department", $"Taro Yamada,{uid}@keio.jp,S0000021,Science"),
            "list\u0000.csv", ImportSupport.Admin, null, CancellationToken.None);

        Assert.Null(header.Batch);
        Assert.Equal(ImportCsv.Problems.HeaderControlCharacters, header.FileProblem);
        Assert.Null(header.FileProblemDetail);
        Assert.Equal("list.csv", Assert.IsType<ImportBatch>(named.Batch).FileName);
        await using var db = Database.CreateDbContext();
        Assert.Equal(["list.csv"], await db.ImportBatches.Select(b => b.FileName).ToListAsync());
        Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.Action == "admin.import.preview"));
        Assert.False(await db.Applications.AnyAsync());
    }

    [Fact]
    public async Task Preview_EmailOfADirectoryEntry_NewUsernameRefusedSameOrNoUsernameSkipped()
    {
        var holders = Enumerable.Range(0, 3).Select(_ => LdapTestUsers.UniqueUsername("imh")).ToList();
        foreach (var holder in holders)
        {
            LdapTestUsers.CreatePerson(holder, "Holder-password-1");
        }
        var other = LdapTestUsers.UniqueUsername("imn");

        // CreatePerson gives each entry the mail uid@example.org; upper case here, as the directory compares without case.
        var rows = await PreviewAsync(
            $"Second Account,{holders[0].ToUpperInvariant()}@example.org,S0000003,Faculty of Science,{other}",
            $"Same Person,{holders[1]}@example.org,S0000004,Faculty of Science,{holders[1]}",
            $"No Username,{holders[2]}@example.org,S0000005,Faculty of Science,");

        Assert.Equal(ImportRowStatus.Invalid, rows[2].Status);
        Assert.Equal([new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.EmailRegistered)], rows[2].Row.Problems);
        Assert.Equal(ImportRowStatus.AlreadyExists, rows[3].Status);
        Assert.Equal(ImportRowStatus.AlreadyExists, rows[4].Status);
        Assert.Equal(holders[2], rows[4].Row.Username);
    }

    [Fact]
    public async Task Confirm_DirectoryEntryWithTheEmailCreatedAfterPreview_RowRefusedNothingCreated()
    {
        var uid = LdapTestUsers.UniqueUsername("imc");
        var rows = await PreviewAsync($"Late Comer,{uid}@example.org,S0000006,Faculty of Science,{uid}x");
        Assert.Equal(ImportRowStatus.Ready, rows[2].Status);
        LdapTestUsers.CreatePerson(uid, "Late-password-1");

        var confirmed = await _support.Import.ConfirmAsync(rows[2].Row.BatchId, ImportSupport.Admin, "192.0.2.9", CancellationToken.None);

        Assert.Equal(new ImportConfirmResult.Confirmed(0, 0, 1), confirmed);
        var after = (await _support.Import.RowsAsync(rows[2].Row.BatchId, false, 0, 10, CancellationToken.None)).Items.Single();
        Assert.Equal([new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.EmailRegistered)], after.Row.Problems);
    }
}
