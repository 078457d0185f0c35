namespace Portal.Infrastructure.Persistence;

/// <summary>Escapes text for a LIKE/ILIKE pattern with '\' as the escape character, so a search matches it literally.</summary>
public static class Like
{
    public static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
}
