using System.Text;

namespace Portal.Admin;

/// <summary>RFC 4180 CSV for exports, safe to open in a spreadsheet.</summary>
public static class Csv
{
    /// <summary>
    /// One field: quoted when it holds a comma, quote or line break; and a leading <c>= + - @</c>, tab or carriage
    /// return is prefixed with <c>'</c> so a spreadsheet never runs it as a formula (CSV injection).
    /// </summary>
    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }
        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }
        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    public static string Line(params string?[] fields)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < fields.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            sb.Append(Field(fields[i]));
        }
        return sb.Append("\r\n").ToString();
    }
}
