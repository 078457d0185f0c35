using System.Text;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Domain.Onboarding.Import;

namespace Portal.Tests.Admin;

/// <summary>Reading import files: RFC 4180 quoting, the header, and the limits that keep a hostile file cheap.</summary>
public sealed class ImportCsvTests
{
    private static ImportCsvResult Read(string text, bool bom = false) =>
        ImportCsv.Read([.. (bom ? new byte[] { 0xEF, 0xBB, 0xBF } : []), .. Encoding.UTF8.GetBytes(text)]);

    [Fact]
    public void Read_BomQuotesAndColumnsInAnyOrder_FieldsAsWritten()
    {
        var result = Read("email,Name,department,id,username\r\n" +
            "a@keio.jp,\"Suzuki, Ichiro\",\"Dept \"\"X\"\"\",S1,ichiro\r\n" +
            "b@keio.jp,\"Two\nLines\",D,S2,\r\n\r\n", bom: true);

        Assert.Null(result.FileProblem);
        Assert.Equal(2, result.Records.Count);
        var first = result.Records[0];
        Assert.Equal(new ImportRecord(2, "Suzuki, Ichiro", "a@keio.jp", "S1", "Dept \"X\"", "ichiro", null), first);
        var second = result.Records[1];
        Assert.Equal("Two\nLines", second.Name);
        Assert.Equal(3, second.RowNumber);
        Assert.Equal("", second.Username);
    }

    [Fact]
    public void Read_UsernameColumnOptional_Null()
    {
        var result = Read("name,email,id,department\nA,a@keio.jp,S1,D\n");
        Assert.Null(Assert.Single(result.Records).Username);
    }

    [Theory]
    [InlineData("name,email,id\nA,a@keio.jp,S1\n", ImportCsv.Problems.HeaderMissingColumn, "department")]
    [InlineData("name,email,id,department,password\n", ImportCsv.Problems.HeaderUnknownColumn, "password")]
    [InlineData("name,email,id,department,name\n", ImportCsv.Problems.HeaderDuplicateColumn, "name")]
    [InlineData("name,email,id,department\n", ImportCsv.Problems.NoRows, null)]
    [InlineData("", ImportCsv.Problems.FileEmpty, null)]
    public void Read_BadHeader_FileRefusedWithReason(string text, string problem, string? detail)
    {
        var result = Read(text);
        Assert.Equal(problem, result.FileProblem);
        Assert.Equal(detail, result.FileProblemDetail);
        Assert.Empty(result.Records);
    }

    [Fact]
    public void Read_TooManyRows_Refused()
    {
        var text = new StringBuilder("name,email,id,department\n");
        for (var i = 0; i <= ImportCsv.MaxRows; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"N{i},n{i}@keio.jp,S{i},D\n");
        }
        var result = Read(text.ToString());
        Assert.Equal(ImportCsv.Problems.TooManyRows, result.FileProblem);
        Assert.Equal("2001", result.FileProblemDetail);
    }

    [Fact]
    public void Read_LargerThanLimit_RefusedBeforeDecoding()
    {
        var result = ImportCsv.Read(new byte[ImportCsv.MaxBytes + 1]);
        Assert.Equal(ImportCsv.Problems.FileTooLarge, result.FileProblem);
    }

    [Fact]
    public void Read_NotUtf8_Refused()
    {
        var shiftJis = new byte[] { 0x6e, 0x61, 0x6d, 0x65, 0x0a, 0x83, 0x65, 0x83, 0x58, 0x83, 0x67, 0xff };
        Assert.Equal(ImportCsv.Problems.NotUtf8, ImportCsv.Read(shiftJis).FileProblem);
    }

    [Fact]
    public void Read_SixtyThousandCharacterRow_OnlyThatRowRefused()
    {
        var result = Read($"name,email,id,department\nA,a@keio.jp,S1,D\n{new string('x', 60_000)},b@keio.jp,S2,D\nC,c@keio.jp,S3,D\n");

        Assert.Null(result.FileProblem);
        Assert.Equal(3, result.Records.Count);
        Assert.Equal(ImportCsv.Problems.RowTooLong, result.Records[1].Problem);
        Assert.Null(result.Records[1].Name);
        Assert.Equal(3, result.Records[1].RowNumber);
        Assert.Equal(new ImportRecord(4, "C", "c@keio.jp", "S3", "D", null, null), result.Records[2]);
    }

    [Fact]
    public void Read_WrongFieldCountAndUnterminatedQuote_Reported()
    {
        var result = Read("name,email,id,department\nA,a@keio.jp,S1\nB,b@keio.jp,S2,D\n\"C,c@keio.jp,S3,D\nD,d@keio.jp,S4,D\n");

        Assert.Equal(ImportCsv.Problems.WrongFieldCount, result.Records[0].Problem);
        Assert.Null(result.Records[1].Problem);
        Assert.Equal(ImportCsv.Problems.UnterminatedQuote, result.Records[2].Problem);
        Assert.Equal(4, result.Records[2].RowNumber);
        Assert.Equal(3, result.Records.Count);
    }

    [Fact]
    public void Import_Application_ApprovedByImporterWithBatchInPurpose()
    {
        var batch = Guid.NewGuid();
        var (form, errors) = ApplicationForm.Validate("Taro Yamada", "taro@keio.jp", "S1", "Science", "taro", "x", true, ["keio.jp"]);
        Assert.Empty(errors);
        var at = DateTimeOffset.Parse("2026-04-01T09:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

        var application = AccountApplication.Import(form!, batch, Username.Parse("admin"), at, "hash");

        Assert.Equal(ApplicationState.Approved, application.State);
        Assert.Equal("admin", application.DecidedBy!.Value);
        Assert.Equal(at, application.DecidedAt);
        Assert.Equal(at, application.NextProvisioningAttemptAt);
        Assert.Contains(batch.ToString(), application.Purpose, StringComparison.Ordinal);
        Assert.Equal(AccountApplication.TermsNotYetAccepted, application.AcceptedTermsVersion);
        Assert.True(application.AwaitsProvisioning);
    }
}
