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
    public const int FullNameMax = 100;
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
        public const string OpenApplicationExists = "OpenApplicationExists";
        public const string TermsNotAccepted = "TermsNotAccepted";
    }

    /// <summary>Checks every field (all problems at once, so the person fixes them in one go).</summary>
    public static (ApplicationForm? Form, IReadOnlyList<FieldError> Errors) Validate(
        string? fullName, string? email, string? affiliationId, string? department, string? desiredUsername, string? purpose,
        bool acceptedTerms, IReadOnlyCollection<string> allowedEmailDomains)
    {
        var errors = new List<FieldError>();
        var name = Text(fullName, Fields.FullName, FullNameMax, multiline: false, errors);
        var affiliation = Text(affiliationId, Fields.AffiliationId, AffiliationIdMax, multiline: false, errors);
        if (affiliation is not null && !affiliation.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            errors.Add(new FieldError(Fields.AffiliationId, Codes.InvalidCharacters));
            affiliation = null;
        }
        var dept = Text(department, Fields.Department, DepartmentMax, multiline: false, errors);
        var why = Text(purpose, Fields.Purpose, PurposeMax, multiline: true, errors);

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

    private static string? Text(string? value, string field, int max, bool multiline, List<FieldError> errors)
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
        foreach (var ch in trimmed)
        {
            var allowedControl = multiline && ch is '\n' or '\r' or '\t';
            // Control characters break mail headers and logs; LDAP filter metacharacters have no place in a name.
            if ((char.IsControl(ch) && !allowedControl) || (!multiline && ch is '*' or '(' or ')' or '\\' or '<' or '>'))
            {
                errors.Add(new FieldError(field, Codes.InvalidCharacters));
                return null;
            }
        }
        return multiline ? trimmed.Replace("\r\n", "\n", StringComparison.Ordinal) : trimmed;
    }
}
