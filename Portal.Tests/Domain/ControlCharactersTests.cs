using Portal.Domain.Common;

namespace Portal.Tests.Domain;

public sealed class ControlCharactersTests
{
    [Theory]
    [InlineData("\u0000")]
    [InlineData("ab\u0000cd")]
    [InlineData("\u001b[31m")]
    [InlineData("line\nbreak")]
    [InlineData("tab\there")]
    [InlineData("\u007f")]
    [InlineData("\u0085")]
    [InlineData("\u009f")]
    public void Contains_SingleLineWithControlCharacter_True(string text) =>
        Assert.True(ControlCharacters.Contains(text));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("alice")]
    [InlineData("山田 花子")]
    [InlineData("\u3000全角スペース")]
    [InlineData("100% _literal_ \\ text")]
    public void Contains_PlainText_False(string? text) =>
        Assert.False(ControlCharacters.Contains(text));

    [Fact]
    public void Contains_MultipleLines_AllowsTabAndLineBreaksOnly()
    {
        Assert.False(ControlCharacters.Contains("first line\r\nsecond\tline", ControlCharacters.Lines.Multiple));
        Assert.True(ControlCharacters.Contains("first line\r\n\u0000", ControlCharacters.Lines.Multiple));
        Assert.True(ControlCharacters.Contains("bell\u0007", ControlCharacters.Lines.Multiple));
    }

    [Theory]
    [InlineData("ab\u0000cd", "abcd")]
    [InlineData("\u0000\u0001\u001f", "")]
    [InlineData("a\tb\nc", "abc")]
    [InlineData("plain", "plain")]
    [InlineData("日本\u0000語", "日本語")]
    public void Remove_SingleLine_LeavesTheRest(string text, string expected) =>
        Assert.Equal(expected, ControlCharacters.Remove(text));

    [Fact]
    public void Remove_MultipleLines_KeepsLineBreaks() =>
        Assert.Equal("a\r\nb\tc", ControlCharacters.Remove("a\r\n\u0000b\tc\u007f", ControlCharacters.Lines.Multiple));

    [Fact]
    public void Remove_Null_StaysNull() => Assert.Null(ControlCharacters.Remove(null));
}
