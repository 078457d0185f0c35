using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Tests.Support;

namespace Portal.Tests.Web;

/// <summary>Every text the pages ask for exists in English and in Japanese.</summary>
public sealed partial class LocalizationTests
{
    private static readonly string ResourcesDirectory = Path.Combine(TestEnvironment.RepositoryRoot, "Portal", "Resources");

    private static HashSet<string> Keys(string file) =>
        [.. XDocument.Load(Path.Combine(ResourcesDirectory, file)).Root!.Elements("data").Select(d => (string)d.Attribute("name")!)];

    [Fact]
    public void ResourceFiles_EnglishAndJapanese_HaveTheSameKeys()
    {
        var english = Keys("Text.resx");
        var japanese = Keys("Text.ja.resx");

        Assert.NotEmpty(english);
        Assert.Empty(english.Except(japanese));
        Assert.Empty(japanese.Except(english));
    }

    [Fact]
    public void PagesAndCode_EveryLiteralTextKey_ExistsInResources()
    {
        var known = Keys("Text.resx");
        var used = Directory.EnumerateFiles(Path.Combine(TestEnvironment.RepositoryRoot, "Portal"), "*.*", SearchOption.AllDirectories)
            .Where(f => (f.EndsWith(".razor", StringComparison.Ordinal) || f.EndsWith(".cs", StringComparison.Ordinal))
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => TextKey().Matches(File.ReadAllText(f)).Select(m => m.Groups["key"].Value))
            .ToHashSet();

        Assert.NotEmpty(used);
        Assert.Empty(used.Except(known));
    }

    [Theory]
    [InlineData("en", "Sign in")]
    [InlineData("ja", "サインイン")]
    public void Localizer_Culture_ReturnsThatLanguage(string culture, string expected)
    {
        var factory = new ResourceManagerStringLocalizerFactory(
            Options.Create(new LocalizationOptions { ResourcesPath = "Resources" }), NullLoggerFactory.Instance);
        var localizer = factory.Create(typeof(Text));
        var previous = CultureInfo.CurrentUICulture;
        try
        {
            CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
            var text = localizer["SignIn.Title"];
            Assert.False(text.ResourceNotFound);
            Assert.Equal(expected, text.Value);
        }
        finally
        {
            CultureInfo.CurrentUICulture = previous;
        }
    }

    /// <summary>Keys built at run time from a domain value: every value of the enum (or code list) must have its text.</summary>
    [Fact]
    public void KeyFamilies_EveryDomainValue_HasText()
    {
        var known = Keys("Text.resx");
        var expected = Enum.GetValues<Portal.Domain.Onboarding.ApplicationState>().SelectMany(s => new[] { $"State.{s}", $"Status.Explain.{s}" })
            .Concat(Enum.GetValues<Portal.Infrastructure.Onboarding.WithdrawResult>().Select(r => $"Status.Withdraw.{r}"))
            .Concat(Enum.GetValues<Portal.Domain.Accounts.Role>().Select(r => $"Role.{r}"))
            .Concat(Enum.GetValues<Portal.Domain.Servers.ServerState>().Select(s => $"Server.State.{s}"))
            .Concat(Enum.GetValues<Portal.Domain.Servers.ToolkitRefusal>().Select(r => $"Server.ToolkitRefusal.{r}"))
            .Concat(Enum.GetValues<Portal.Infrastructure.Accounts.SignInFailure>().Select(f => $"SignIn.Failed.{f}"))
            .Concat(typeof(Portal.Domain.Onboarding.ApplicationForm.Codes).GetFields().Select(f => $"Apply.Error.{f.GetRawConstantValue()}"));

        Assert.DoesNotContain(expected, k => !known.Contains(k));
    }

    [GeneratedRegex("""T\["(?<key>[A-Za-z]+\.[A-Za-z0-9.]+)"\]""")]
    private static partial Regex TextKey();
}
