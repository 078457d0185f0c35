using Portal.Domain.Accounts;

namespace Portal.Domain.Onboarding;

/// <summary>What is wrong with one field of the application form; <see cref="Code"/> selects the localized message.</summary>
public sealed record FieldError(string Field, string Code);

/// <summary>The application form as typed, checked field by field. Only a valid form becomes an application.</summary>
public sealed record ApplicationForm(
    string FullName,
    EmailAddress Email,
    string AffiliationId,
    string Department,
    Username DesiredUsername,
    string Purpose)
{
    public const int FullNameMax = DisplayName.MaxLength;
    public const int AffiliationIdMax = 20;
    public const int DepartmentMax = 100;
    public const int PurposeMax = 2000;

    public static class Fields
    {
        public const string FullName = nameof(ApplicationForm.FullName);
        public const string Email = nameof(ApplicationForm.Email);
        public const string AffiliationId = nameof(ApplicationForm.AffiliationId);
        public const string Department = nameof(ApplicationForm.Department);
        public const string DesiredUsername = nameof(ApplicationForm.DesiredUsername);
        public const string Purpose = nameof(ApplicationForm.Purpose);
        public const string AcceptTerms = "AcceptTerms";
    }

    public static class Codes
    {
        public const string Required = "Required";
        public const string TooLong = "TooLong";
        public const string InvalidCharacters = "InvalidCharacters";
        public const string InvalidEmail = "InvalidEmail";
        public const string EmailDomainNotAllowed = "EmailDomainNotAllowed";
        public const string InvalidUsername = "InvalidUsername";
        public const string UsernameTaken = "UsernameTaken";

        /// <summary>An account (in the portal or in the directory) already has this email address: one person, one account.</summary>
        public const string EmailHasAccount = "EmailHasAccount";
        public const string OpenApplicationExists = "OpenApplicationExists";
        public const string TermsNotAccepted = "TermsNotAccepted";
    }

    /// <summary>Checks every field (all problems at once, so the person fixes them in one go).</summary>
    public static (ApplicationForm? Form, IReadOnlyList<FieldError> Errors) Validate(
        string? fullName, string? email, string? affiliationId, string? department, string? desiredUsername, string? purpose,
        bool acceptedTerms, IReadOnlyCollection<string> allowedEmailDomains)
    {
        var errors = new List<FieldError>();
        var name = Line(fullName, Fields.FullName, FullNameMax, errors);
        var affiliation = Line(affiliationId, Fields.AffiliationId, AffiliationIdMax, errors);
        if (affiliation is not null && !affiliation.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            errors.Add(new FieldError(Fields.AffiliationId, Codes.InvalidCharacters));
            affiliation = null;
        }
        var dept = Line(department, Fields.Department, DepartmentMax, errors);
        var why = Paragraphs(purpose, Fields.Purpose, PurposeMax, errors);

        EmailAddress? address = null;
        if (string.IsNullOrWhiteSpace(email))
        {
            errors.Add(new FieldError(Fields.Email, Codes.Required));
        }
        else if (email.Length > EmailAddress.MaxLength)
        {
            errors.Add(new FieldError(Fields.Email, Codes.TooLong));
        }
        else if (!EmailAddress.TryParse(email, out address))
        {
            errors.Add(new FieldError(Fields.Email, Codes.InvalidEmail));
        }
        else if (!IsAllowedDomain(address.Domain, allowedEmailDomains))
        {
            errors.Add(new FieldError(Fields.Email, Codes.EmailDomainNotAllowed));
            address = null;
        }

        Username? username = null;
        if (string.IsNullOrWhiteSpace(desiredUsername))
        {
            errors.Add(new FieldError(Fields.DesiredUsername, Codes.Required));
        }
        else if (!Username.TryParse(desiredUsername.Trim(), out username))
        {
            errors.Add(new FieldError(Fields.DesiredUsername, Codes.InvalidUsername));
        }

        if (!acceptedTerms)
        {
            errors.Add(new FieldError(Fields.AcceptTerms, Codes.TermsNotAccepted));
        }

        return errors.Count == 0
            ? (new ApplicationForm(name!, address!, affiliation!, dept!, username!, why!), errors)
            : (null, errors);
    }

    /// <summary>A domain is allowed when it equals an allowed one or is a subdomain of it (st.keio.jp under keio.jp).</summary>
    public static bool IsAllowedDomain(string domain, IReadOnlyCollection<string> allowed) =>
        allowed.Any(a => domain.Equals(a, StringComparison.OrdinalIgnoreCase)
            || domain.EndsWith("." + a, StringComparison.OrdinalIgnoreCase));

    /// <summary>A single line: the display-name rule (<see cref="DisplayName"/>), the same for a name typed here and one imported.</summary>
    private static string? Line(string? value, string field, int max, List<FieldError> errors)
    {
        var check = DisplayName.Check(value, max);
        if (check.Refusal is { } refusal)
        {
            errors.Add(new FieldError(field, refusal switch
            {
                TextRefusal.Required => Codes.Required,
                TextRefusal.TooLong => Codes.TooLong,
                TextRefusal.InvalidCharacters => Codes.InvalidCharacters,
                _ => throw new ArgumentOutOfRangeException(nameof(value), refusal, null),
            }));
        }
        return check.Value;
    }

    private static string? Paragraphs(string? value, string field, int max, List<FieldError> errors)
    {
        var trimmed = value?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            errors.Add(new FieldError(field, Codes.Required));
            return null;
        }
        if (trimmed.Length > max)
        {
            errors.Add(new FieldError(field, Codes.TooLong));
            return null;
        }
        // Control characters break mail and logs; bidi controls would show the reviewer another text than was sent.
        if (!DisplayName.HasOnlyAllowedCharacters(trimmed, multiline: true))
        {
            errors.Add(new FieldError(field, Codes.InvalidCharacters));
            return null;
        }
        return trimmed.Replace("\r\n", "\n", StringComparison.Ordinal);
    }
}
