using Portal.Domain.Onboarding;

namespace Portal.Tests.Domain;

public sealed class ApplicationFormTests
{
    private static readonly string[] Domains = ["keio.jp", "example.ac.jp"];

    private static IReadOnlyList<FieldError> Errors(
        string? fullName = "Taro Yamada", string? email = "taro@keio.jp", string? affiliationId = "S1234567",
        string? department = "Faculty of Science", string? username = "taro", string? purpose = "Coursework in deep learning",
        bool accepted = true) =>
        ApplicationForm.Validate(fullName, email, affiliationId, department, username, purpose, accepted, Domains).Errors;

    [Fact]
    public void Validate_GoodForm_NoErrorsAndTrimmedValues()
    {
        var (form, errors) = ApplicationForm.Validate("  山田 太郎 ", "Taro@St.Keio.JP", "S-123", "理工学部", " taro ", "line1\r\nline2", true, Domains);

        Assert.Empty(errors);
        Assert.Equal("山田 太郎", form!.FullName);
        Assert.Equal("Taro@st.keio.jp", form.Email.Value);
        Assert.Equal("taro", form.DesiredUsername.Value);
        Assert.Equal("line1\nline2", form.Purpose);
    }

    public static TheoryData<string, string, string> BadFields() => new()
    {
        { ApplicationForm.Fields.FullName, "", ApplicationForm.Codes.Required },
        { ApplicationForm.Fields.FullName, new string('a', 101), ApplicationForm.Codes.TooLong },
        { ApplicationForm.Fields.FullName, new string('a', 60_000), ApplicationForm.Codes.TooLong },
        { ApplicationForm.Fields.FullName, "Taro\u0000Yamada", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.FullName, "Taro\nYamada", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.FullName, "*)(uid=*", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.Email, "", ApplicationForm.Codes.Required },
        { ApplicationForm.Fields.Email, "not-an-email", ApplicationForm.Codes.InvalidEmail },
        { ApplicationForm.Fields.Email, "taro@gmail.com", ApplicationForm.Codes.EmailDomainNotAllowed },
        { ApplicationForm.Fields.Email, "taro@notkeio.jp", ApplicationForm.Codes.EmailDomainNotAllowed },
        { ApplicationForm.Fields.Email, "*)(mail=*@keio.jp", ApplicationForm.Codes.InvalidEmail },
        { ApplicationForm.Fields.Email, new string('a', 300) + "@keio.jp", ApplicationForm.Codes.TooLong },
        { ApplicationForm.Fields.AffiliationId, "", ApplicationForm.Codes.Required },
        { ApplicationForm.Fields.AffiliationId, "S 123", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.AffiliationId, "S1*", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.AffiliationId, new string('1', 21), ApplicationForm.Codes.TooLong },
        { ApplicationForm.Fields.Department, "Sci\u0007ence", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.Department, "Science)(objectClass=*", ApplicationForm.Codes.InvalidCharacters },
        { ApplicationForm.Fields.DesiredUsername, "", ApplicationForm.Codes.Required },
        { ApplicationForm.Fields.DesiredUsername, "Taro", ApplicationForm.Codes.InvalidUsername },
        { ApplicationForm.Fields.DesiredUsername, "*)(uid=*", ApplicationForm.Codes.InvalidUsername },
        { ApplicationForm.Fields.Purpose, "", ApplicationForm.Codes.Required },
        { ApplicationForm.Fields.Purpose, new string('p', 2001), ApplicationForm.Codes.TooLong },
        { ApplicationForm.Fields.Purpose, "study\u001b[31m", ApplicationForm.Codes.InvalidCharacters },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public void Validate_BadField_NamesThatFieldAndCode(string field, string value, string code)
    {
        var errors = field switch
        {
            ApplicationForm.Fields.FullName => Errors(fullName: value),
            ApplicationForm.Fields.Email => Errors(email: value),
            ApplicationForm.Fields.AffiliationId => Errors(affiliationId: value),
            ApplicationForm.Fields.Department => Errors(department: value),
            ApplicationForm.Fields.DesiredUsername => Errors(username: value),
            ApplicationForm.Fields.Purpose => Errors(purpose: value),
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };

        var error = Assert.Single(errors);
        Assert.Equal(field, error.Field);
        Assert.Equal(code, error.Code);
    }

    [Fact]
    public void Validate_TermsNotAccepted_Refused()
    {
        var error = Assert.Single(Errors(accepted: false));
        Assert.Equal(ApplicationForm.Codes.TermsNotAccepted, error.Code);
    }

    [Fact]
    public void Validate_EverythingEmpty_ReportsEveryField()
    {
        var errors = ApplicationForm.Validate(null, null, null, null, null, null, false, Domains).Errors;
        Assert.Equal(7, errors.Select(e => e.Field).Distinct().Count());
    }
}
