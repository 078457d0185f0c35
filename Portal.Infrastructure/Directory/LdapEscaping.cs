using System.Text;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// Escaping for values put into LDAP filters (RFC 4515) and DNs (RFC 4514). System.DirectoryServices.Protocols
/// has neither, and every value that reaches a filter or DN goes through here.
/// </summary>
public static class LdapEscaping
{
    public static string FilterValue(string value)
    {
        var sb = new StringBuilder(value.Length + 8);
        foreach (var ch in value)
        {
            _ = ch switch
            {
                '\\' => sb.Append(@"\5c"),
                '*' => sb.Append(@"\2a"),
                '(' => sb.Append(@"\28"),
                ')' => sb.Append(@"\29"),
                '\0' => sb.Append(@"\00"),
                _ => sb.Append(ch),
            };
        }
        return sb.ToString();
    }

    public static string DnValue(string value)
    {
        var sb = new StringBuilder(value.Length + 8);
        for (var i = 0; i < value.Length; i++)
        {
            var ch = value[i];
            var special = ch is ',' or '+' or '"' or '\\' or '<' or '>' or ';' or '='
                || (i == 0 && (ch == '#' || ch == ' '))
                || (i == value.Length - 1 && ch == ' ');
            if (ch == '\0')
            {
                sb.Append(@"\00");
            }
            else
            {
                if (special)
                {
                    sb.Append('\\');
                }
                sb.Append(ch);
            }
        }
        return sb.ToString();
    }
}
