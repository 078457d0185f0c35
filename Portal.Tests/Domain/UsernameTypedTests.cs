using Portal.Domain.Accounts;

namespace Portal.Tests.Domain;

/// <summary>A typed username: ASCII case and surrounding spaces forgiven, nothing that only becomes a username by normalising.</summary>
public sealed class UsernameTypedTests
{
    [Theory]
    [InlineData("kim", "kim")]
    [InlineData("  Kim ", "kim")]
    [InlineData("TARO_2", "taro_2")]
    public void TryParseTyped_AsciiCapitalsAndSpaces_Forgiven(string typed, string expected)
    {
        Assert.True(Username.TryParseTyped(typed, out var username));
        Assert.Equal(expected, username.Value);
    }

    [Theory]
    [InlineData("\u212Aim")]            // KELVIN SIGN: .NET lowercases it to k
    [InlineData("\uFF4B\uFF49\uFF4D")] // fullwidth: NFKC gives kim
    public void TryParseTyped_LookAlikeThatNormalisesToKim_Refused(string typed)
    {
        // Folded the way .NET or NFKC would fold it, it is kim: that is exactly what must not happen.
        Assert.Equal("kim", typed.Normalize(System.Text.NormalizationForm.FormKC).ToLowerInvariant());

        Assert.False(Username.TryParseTyped(typed, out _));
    }

    [Theory]
    [InlineData("adm\u0130n")]
    [InlineData("ki\u0307m")]
    [InlineData(null)]
    [InlineData("")]
    public void TryParseTyped_OtherNonAsciiOrNothing_Refused(string? typed)
    {
        Assert.False(Username.TryParseTyped(typed, out _));
    }

    [Fact]
    public void TryParse_KelvinSign_Refused()
    {
        Assert.False(Username.TryParse("\u212Aim", out _));
    }
}
