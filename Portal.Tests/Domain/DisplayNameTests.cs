using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;

namespace Portal.Tests.Domain;

/// <summary>The one rule for names, as the application form (and through it the import) applies it.</summary>
public sealed class DisplayNameTests
{
    private static IReadOnlyList<FieldError> Errors(string fullName, string department = "Faculty of Science") =>
        ApplicationForm.Validate(fullName, "taro@keio.jp", "S1234567", department, "taro", "Coursework", acceptedTerms: true, ["keio.jp"]).Errors;

    [Theory]
    [InlineData("山田 太郎 (Taro Yamada)")]
    [InlineData("Anne-Marie O'Neill (Annie)")]
    [InlineData("José Ñúñez")]
    [InlineData("محمد علي")]
    public void Validate_NameWithParenthesesOrAnyScript_Accepted(string name)
    {
        Assert.Empty(Errors(name));
    }

    [Fact]
    public void Validate_DepartmentWithParentheses_Accepted()
    {
        Assert.Empty(Errors("Taro Yamada", "Faculty of Science (Physics)"));
    }

    [Theory]
    [InlineData("Taro \u202EadamaY")]         // right-to-left override
    [InlineData("Taro \u202DYamada")]         // left-to-right override
    [InlineData("\u2066Taro\u2069 Yamada")]    // isolates
    [InlineData("Taro\u200FYamada")]          // right-to-left mark
    [InlineData("Taro\u200BYamada")]          // zero-width space
    [InlineData("Taro\u2028Yamada")]          // line separator
    [InlineData("Taro\u0007Yamada")]          // control character
    [InlineData("Eve*)(uid=*")]
    [InlineData("<b>Taro</b>")]
    public void Validate_InvisibleControlOrMarkupCharacters_RefusedAsInvalidCharacters(string name)
    {
        Assert.Equal([new FieldError(ApplicationForm.Fields.FullName, ApplicationForm.Codes.InvalidCharacters)], Errors(name));
    }

    [Fact]
    public void Check_UnpairedSurrogate_Refused()
    {
        // In a [Fact]: theory data would arrive with the lone surrogate already replaced by U+FFFD.
        Assert.Equal(TextRefusal.InvalidCharacters, DisplayName.Check("Taro \uD800Yamada").Refusal);
        Assert.Equal(TextRefusal.InvalidCharacters, DisplayName.Check("Taro Yamada\uDC00").Refusal);
    }

    [Fact]
    public void Validate_BidiOverrideInDepartmentOrPurpose_Refused()
    {
        var department = Errors("Taro Yamada", "Science \u202Eecneics");
        var purpose = ApplicationForm.Validate("Taro Yamada", "taro@keio.jp", "S1234567", "Science", "taro",
            "Coursework \u202E", acceptedTerms: true, ["keio.jp"]).Errors;

        Assert.Equal([new FieldError(ApplicationForm.Fields.Department, ApplicationForm.Codes.InvalidCharacters)], department);
        Assert.Equal([new FieldError(ApplicationForm.Fields.Purpose, ApplicationForm.Codes.InvalidCharacters)], purpose);
    }

    [Fact]
    public void Check_JoinersInEmojiAndScripts_Accepted()
    {
        Assert.True(DisplayName.Check("Ana 👩\u200D💻").IsValid);
        Assert.True(DisplayName.Check("می\u200Cخواهم").IsValid);
    }

    [Fact]
    public void Check_DecomposedAccents_KeptInNormalFormC()
    {
        var check = DisplayName.Check("  Jose\u0301 Nun\u0303ez ");

        Assert.Equal("Jos\u00e9 Nu\u00f1ez", check.Value);
    }

    [Fact]
    public void Check_EmptyOrTooLong_SaysWhich()
    {
        Assert.Equal(TextRefusal.Required, DisplayName.Check("   ").Refusal);
        Assert.Equal(TextRefusal.TooLong, DisplayName.Check(new string('x', 101)).Refusal);
        Assert.Equal(TextRefusal.TooLong, DisplayName.Check(new string('x', 1_000_000)).Refusal);
        Assert.True(DisplayName.Check(new string('x', 100)).IsValid);
    }
}
