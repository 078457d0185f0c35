using Portal.Infrastructure.Jobs;
using System.DirectoryServices.Protocols;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Domain.Onboarding.Import;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Onboarding.Import;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>Bulk onboarding against the real PostgreSQL and slapd: preview, confirm, provisioning, and importing twice.</summary>
public sealed class BulkImportTests : MigratedDatabaseTest
{
    private ImportSupport _support = null!;

    private ImportService Import => _support.Import;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await OnboardingServices.UseOwnUidBlockAsync(Database);
        _support = new ImportSupport(Database);
    }

    [Fact]
    public async Task PreviewConfirmProvision_GoodAndBadRows_EachProblemNamedAndExactlyTheGoodOnesInLdap_SecondUploadCreatesNothing()
    {
        var good = LdapTestUsers.UniqueUsername("imp");
        var noName = LdapTestUsers.UniqueUsername("imp");
        var quoted = LdapTestUsers.UniqueUsername("imp");
        var taken = LdapTestUsers.UniqueUsername("imp");
        var other = LdapTestUsers.UniqueUsername("imp");
        LdapTestUsers.CreatePerson(taken, "Taken-password-1");
        var file = ImportSupport.Csv(
            "name,email,id,department,username",
            $"Taro Yamada,{good}@keio.jp,S0000001,Faculty of Science,{good}",                    // 2: good
            $"Hanako Sato,{noName}.sato@keio.jp,S0000002,Faculty of Letters,",                    // 3: good, username proposed
            $"Jiro Tanaka,{other}@keio.jp,S0000003,Faculty of Science,{good}",                    // 4: username twice in the file
            $"Bad Mail,not-an-email,S0000004,Faculty of Science,{other}b",                        // 5: bad email
            $"Eve*)(uid=*,eve)(mail=*@keio.jp,S(1),x\\y,{other}*",                                // 6: LDAP filter metacharacters everywhere
            $"Nul\0Name,{other}n@keio.jp,S0000006,Faculty of Science,{other}n",                   // 7: NUL in a name
            $"{new string('a', 60_000)},{other}l@keio.jp,S0000007,Faculty of Science,{other}l",   // 8: 60,000 characters
            $"No Department,{other}d@keio.jp,S0000008,,{other}d",                                 // 9: missing field
            $"Taken Name,{other}t@keio.jp,S0000009,Faculty of Science,{taken}",                   // 10: username taken in LDAP
            $"\"Suzuki, Ichiro\",{quoted}@keio.jp,S0000010,Faculty of Science,{quoted}",          // 11: good, quoted comma
            $"Copy Cat,{good}@keio.jp,S0000011,Faculty of Science,{other}c");                    // 12: email twice in the file

        var preview = await Import.PreviewAsync(file, "class-a.csv", ImportSupport.Admin, "192.0.2.9", CancellationToken.None);

        var batch = Assert.IsType<ImportBatch>(preview.Batch);
        Assert.Equal((11, 3, 8, 0), (batch.TotalRows, batch.ReadyRows, batch.InvalidRows, batch.ExistingRows));
        var rows = (await Import.RowsAsync(batch.Id, problemsOnly: false, 0, 100, CancellationToken.None)).Items.ToDictionary(r => r.Row.RowNumber);
        Assert.Equal([2, 3, 11], rows.Values.Where(r => r.Status == ImportRowStatus.Ready).Select(r => r.Row.RowNumber).Order());
        Assert.Equal($"{noName}-sato", rows[3].Row.Username);
        Assert.True(rows[3].Row.UsernameProposed);
        Assert.Equal("Suzuki, Ichiro", rows[11].Row.FullName);
        Assert.Equal([new ImportProblem("username", ImportRow.Codes.DuplicateInFile, 2)], rows[4].Row.Problems);
        Assert.Equal([new ImportProblem("email", ApplicationForm.Codes.InvalidEmail)], rows[5].Row.Problems);
        Assert.Equal(
            [new("name", ApplicationForm.Codes.InvalidCharacters), new("id", ApplicationForm.Codes.InvalidCharacters),
             new("department", ApplicationForm.Codes.InvalidCharacters), new("email", ApplicationForm.Codes.InvalidEmail),
             new("username", ApplicationForm.Codes.InvalidUsername)],
            rows[6].Row.Problems);
        Assert.Equal([new ImportProblem("name", ApplicationForm.Codes.InvalidCharacters)], rows[7].Row.Problems);
        Assert.Equal("Nul\uFFFDName", rows[7].Row.FullName);
        Assert.Equal([new ImportProblem("row", ImportCsv.Problems.RowTooLong)], rows[8].Row.Problems);
        Assert.Null(rows[8].Row.FullName);
        Assert.Equal([new ImportProblem("department", ApplicationForm.Codes.Required)], rows[9].Row.Problems);
        Assert.Equal([new ImportProblem("username", ApplicationForm.Codes.UsernameTaken)], rows[10].Row.Problems);
        Assert.Equal([new ImportProblem("email", ImportRow.Codes.DuplicateInFile, 2)], rows[12].Row.Problems);

        var confirmed = await Import.ConfirmAsync(batch.Id, ImportSupport.Admin, "192.0.2.9", CancellationToken.None);
        Assert.Equal(new ImportConfirmResult.Confirmed(3, 0, 8), confirmed);
        // One provisioning job per created application, as an approval asks.
        var asked = _support.Onboarding.Trigger.Keys(JobKind.Provisioning).Select(k => Guid.Parse(k, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3, asked.Distinct().Count());
        Assert.Equal(0, _support.Onboarding.Trigger.Count(JobKind.ProvisioningSweep));
        var pending = await Import.BatchAsync(batch.Id, CancellationToken.None);
        Assert.Equal(3, pending!.Counts[ImportRowStatus.Pending]);

        // What those jobs do.
        foreach (var id in asked)
        {
            Assert.Equal(ProvisioningOutcome.Provisioned, await _support.Onboarding.Provisioning.ProvisionAsync(id, CancellationToken.None));
        }

        var done = await Import.BatchAsync(batch.Id, CancellationToken.None);
        Assert.Equal(3, done!.Counts[ImportRowStatus.Provisioned]);
        Assert.Equal(8, done.Counts[ImportRowStatus.Invalid]);
        var ldap = LdapTestUsers.Directory();
        foreach (var uid in new[] { good, $"{noName}-sato", quoted })
        {
            Assert.Single(ldap.FindDistinguishedNames(uid));
        }
        foreach (var uid in new[] { $"{other}b", $"{other}n", $"{other}l", $"{other}d", $"{other}c" })
        {
            Assert.Empty(ldap.FindDistinguishedNames(uid));
        }
        Assert.Empty(PeopleWithMail($"{other}@keio.jp"));
        await using (var db = Database.CreateDbContext())
        {
            var applications = await db.Applications.AsNoTracking().ToListAsync();
            Assert.Equal(3, applications.Count);
            Assert.All(applications, a =>
            {
                Assert.Equal(ApplicationState.Provisioned, a.State);
                Assert.Equal("admin", a.DecidedBy!.Value);
                Assert.Contains(batch.Id.ToString(), a.Purpose, StringComparison.Ordinal);
            });
            Assert.Equal(3, await db.OutboxMails.CountAsync(m => m.DeduplicationKey.StartsWith("credentials:")));
            Assert.Equal(3, await db.AuditEvents.CountAsync(e => e.Action == "application.imported" && e.Actor == "admin"));
            Assert.Equal(3, await db.AuditEvents.CountAsync(e => e.Action == "application.provisioned"));
            var confirmEvent = await db.AuditEvents.SingleAsync(e => e.Action == "admin.import.confirm");
            Assert.Equal(ImportService.BatchTarget(batch.Id), confirmEvent.Target);
            Assert.Equal(3, System.Text.Json.JsonDocument.Parse(confirmEvent.Data).RootElement.GetProperty("created").GetInt32());
            Assert.Equal("192.0.2.9", confirmEvent.SourceAddress);
        }

        // The same file again: everybody good is there already, so nothing is created.
        var again = await Import.PreviewAsync(file, "class-a (copy).csv", ImportSupport.Admin, null, CancellationToken.None);

        var second = Assert.IsType<ImportBatch>(again.Batch);
        Assert.Equal(batch.Id, again.EarlierConfirmedSameFile?.Id);
        Assert.Equal((0, 8, 3), (second.ReadyRows, second.InvalidRows, second.ExistingRows));
        var secondRows = (await Import.RowsAsync(second.Id, false, 0, 100, CancellationToken.None)).Items.ToDictionary(r => r.Row.RowNumber);
        Assert.All(new[] { 2, 3, 11 }, n => Assert.Equal(ImportRowStatus.AlreadyExists, secondRows[n].Status));
        Assert.Equal(ImportRow.Codes.AccountExists, secondRows[3].Row.Problems.Single().Code);
        Assert.Equal($"{noName}-sato", secondRows[3].Row.Username);
        Assert.Equal(new ImportConfirmResult.Confirmed(0, 3, 8), await Import.ConfirmAsync(second.Id, ImportSupport.Admin, null, CancellationToken.None));
        await using (var db = Database.CreateDbContext())
        {
            Assert.Equal(3, await db.Applications.CountAsync());
            Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.Action == "admin.import.preview"));
        }
        Assert.Single(ldap.FindDistinguishedNames(good));
    }

    [Fact]
    public async Task ConfirmAsync_TwentyClicksAtOnceAndTwoBatchesOfOneFile_EachPersonOnce()
    {
        var names = Enumerable.Range(0, 3).Select(_ => LdapTestUsers.UniqueUsername("imq")).ToList();
        var file = ImportSupport.Csv(["name,email,id,department,username", .. names.Select(n => $"Student {n},{n}@keio.jp,S1,Science,{n}")]);
        var first = (await Import.PreviewAsync(file, "a.csv", ImportSupport.Admin, null, CancellationToken.None)).Batch!;
        var second = (await Import.PreviewAsync(file, "a.csv", Username.Parse("admin2"), null, CancellationToken.None)).Batch!;
        Assert.Equal(3, second.ReadyRows);

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => Import.ConfirmAsync(i % 2 == 0 ? first.Id : second.Id, ImportSupport.Admin, null, CancellationToken.None))));

        var confirmed = results.OfType<ImportConfirmResult.Confirmed>().ToList();
        Assert.Equal(2, confirmed.Count);
        Assert.Equal(18, results.OfType<ImportConfirmResult.AlreadyConfirmed>().Count());
        Assert.Equal(3, confirmed.Sum(c => c.Created));
        Assert.Equal(3, confirmed.Sum(c => c.Existing));
        await using var db = Database.CreateDbContext();
        Assert.Equal(3, await db.Applications.CountAsync());
        Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.Action == "admin.import.confirm"));
    }

    [Fact]
    public async Task PreviewAsync_ProposedUsernames_ValidUniqueInFileAndAvoidTakenOnes()
    {
        var stem = LdapTestUsers.UniqueUsername("imr");
        LdapTestUsers.CreatePerson(stem, "Taken-password-1");
        var file = ImportSupport.Csv(
            "name,email,id,department",
            $"One,{stem}@keio.jp,S1,Science",
            $"Two,{stem.ToUpperInvariant()}@st.keio.jp,S2,Science",
            $"Three,9{stem}+tag@keio.jp,S3,Science");

        var batch = (await Import.PreviewAsync(file, "p.csv", ImportSupport.Admin, null, CancellationToken.None)).Batch!;

        var rows = (await Import.RowsAsync(batch.Id, false, 0, 10, CancellationToken.None)).Items.Select(r => r.Row).ToList();
        Assert.All(rows, r => Assert.True(r.UsernameProposed && Username.TryParse(r.Username, out _), r.Username));
        Assert.Equal([$"{stem}2", $"{stem}3", $"{stem}-tag"], rows.Select(r => r.Username));
    }

    [Fact]
    public async Task PreviewAsync_WholeFileRefused_NoBatchButAudited()
    {
        var result = await Import.PreviewAsync(ImportSupport.Csv("name,email"), "bad.csv", ImportSupport.Admin, null, CancellationToken.None);

        Assert.Null(result.Batch);
        Assert.Equal(ImportCsv.Problems.HeaderMissingColumn, result.FileProblem);
        await using var db = Database.CreateDbContext();
        Assert.Equal(0, await db.ImportBatches.CountAsync());
        Assert.Contains("HeaderMissingColumn", (await db.AuditEvents.SingleAsync(e => e.Action == "admin.import.preview")).Data, StringComparison.Ordinal);
    }

    private static List<string> PeopleWithMail(string mail)
    {
        var env = TestEnvironment.Current;
        using var connection = LdapTestUsers.BindAs(env.LdapRootDn, env.LdapRootPassword);
        var response = (SearchResponse)connection.SendRequest(new SearchRequest($"ou=people,{env.LdapBaseDn}",
            $"(mail={mail})", SearchScope.OneLevel, "uid"));
        return [.. response.Entries.Cast<SearchResultEntry>().Select(e => e.DistinguishedName)];
    }
}
