namespace Portal.Domain.Common;

/// <summary>
/// The one check for text that comes from outside (a query, a form field, a JSON body, a search box) before it is
/// used: control characters (Unicode category Cc, U+0000–U+001F and U+007F–U+009F) have no place in it. PostgreSQL
/// refuses NUL outright (SQLSTATE 22021), and the others only hide what a text says in logs and lists.
/// </summary>
public static class ControlCharacters
{
    /// <summary>How a text may break lines: a search or a name may not; a free-text reason may use tab, CR and LF.</summary>
    public enum Lines
    {
        Single,
        Multiple,
    }

    /// <summary>True when the text holds a control character that <paramref name="lines"/> does not allow.</summary>
    public static bool Contains(string? text, Lines lines = Lines.Single) => text is not null && text.AsSpan().IndexOfAny(Refused(lines)) >= 0;

    /// <summary>The text without the control characters <paramref name="lines"/> does not allow (null stays null).</summary>
    public static string? Remove(string? text, Lines lines = Lines.Single)
    {
        if (!Contains(text, lines))
        {
            return text;
        }
        var refused = Refused(lines);
        return string.Concat(text!.Where(c => !refused.Contains(c)));
    }

    /// <summary>A message for the person (or program) who sent it, naming the field.</summary>
    public static string Message(string field) => $"The {field} must not contain control characters such as NUL.";

    /// <summary>
    /// The domain's refusal: throws <see cref="InvalidValueException"/> for <paramref name="field"/>, with
    /// <see cref="Message"/> of <paramref name="name"/> and <see cref="InvalidValueException.HasControlCharacters"/> set,
    /// when the text holds a control character that <paramref name="lines"/> does not allow.
    /// </summary>
    public static void ThrowIfContains(string? text, Lines lines, string field, string name)
    {
        if (Contains(text, lines))
        {
            throw new InvalidValueException(field, Message(name)) { HasControlCharacters = true };
        }
    }

    private static System.Buffers.SearchValues<char> Refused(Lines lines) => lines == Lines.Single ? AllControls : ControlsExceptLineBreaks;

    private static readonly System.Buffers.SearchValues<char> AllControls = System.Buffers.SearchValues.Create(Controls(except: ""));

    private static readonly System.Buffers.SearchValues<char> ControlsExceptLineBreaks = System.Buffers.SearchValues.Create(Controls(except: "\t\r\n"));

    private static string Controls(string except) =>
        new([.. Enumerable.Range(0, 0xA0).Select(i => (char)i).Where(c => char.IsControl(c) && !except.Contains(c))]);
}
