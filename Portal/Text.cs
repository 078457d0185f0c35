namespace Portal;

/// <summary>Marker for the shared UI text in Resources/Text.resx (English) and Text.ja.resx (Japanese).</summary>
public sealed class Text;
