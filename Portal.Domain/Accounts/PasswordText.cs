using System.Globalization;
using System.Text;

namespace Portal.Domain.Accounts;

/// <summary>
/// The one normalisation applied to a password wherever it is set or checked, after RFC 8265's OpaqueString:
/// every Unicode space becomes U+0020, then NFC. The same keystrokes on two keyboards give the same bytes.
/// </summary>
public static class PasswordText
{
    public static string Normalize(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var sb = new StringBuilder(password.Length);
        foreach (var ch in password)
        {
            sb.Append(CharUnicodeInfo.GetUnicodeCategory(ch) == UnicodeCategory.SpaceSeparator ? ' ' : ch);
        }
        return sb.ToString().Normalize(NormalizationForm.FormC);
    }
}
