using System.Reflection;
using System.Xml.Linq;
using Portal.Domain.Announcements;
using Portal.Domain.Onboarding.Import;
using Portal.Infrastructure.Announcements;
using Portal.Infrastructure.Onboarding.Import;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>Keys the import and announcements pages build at run time: every value has its text in both languages.</summary>
public sealed class AdminTextTests
{
    private static HashSet<string> Keys(string file) =>
        [.. XDocument.Load(Path.Combine(TestEnvironment.RepositoryRoot, "Portal", "Resources", file)).Root!.Elements("data").Select(d => (string)d.Attribute("name")!)];

    private static IEnumerable<string> Constants(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!);

    [Theory]
    [InlineData("Text.resx")]
    [InlineData("Text.ja.resx")]
    public void KeyFamilies_EveryValue_HasText(string file)
    {
        var known = Keys(file);
        var expected = Enum.GetValues<ImportRowStatus>().Select(s => $"Import.Status.{s}")
            .Concat(Constants(typeof(ImportRow.Columns)).Select(c => $"Import.Column.{c}"))
            .Concat(Constants(typeof(ImportRow.Codes)).Select(c => $"Import.Code.{c}"))
            .Concat(new[] { ImportCsv.Problems.RowTooLong, ImportCsv.Problems.WrongFieldCount, ImportCsv.Problems.UnterminatedQuote }.Select(c => $"Import.Code.{c}"))
            .Concat(Constants(typeof(ImportCsv.Problems)).Except([ImportCsv.Problems.RowTooLong, ImportCsv.Problems.WrongFieldCount, ImportCsv.Problems.UnterminatedQuote])
                .Select(p => $"Import.File.{p}"))
            .Concat(Enum.GetValues<AnnouncementSeverity>().Select(s => $"Announcements.Severity.{s}"))
            .Concat(new[] { "Active", "Scheduled", "Ended" }.Select(p => $"Announcements.Phase.{p}"))
            .Concat(Enum.GetValues<AnnouncementChangeResult>().Where(r => r != AnnouncementChangeResult.Done).Select(r => $"Announcements.Result.{r}"));

        Assert.DoesNotContain(expected, k => !known.Contains(k));
    }
}
