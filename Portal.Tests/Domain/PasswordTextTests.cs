using Portal.Domain.Accounts;

namespace Portal.Tests.Domain;

public sealed class PasswordTextTests
{
    [Fact]
    public void Normalize_DecomposedAndComposedForms_AreEqual()
    {
        // "é" typed as one code point or as "e" + combining acute accent.
        Assert.Equal(PasswordText.Normalize("caf\u00e9 au lait"), PasswordText.Normalize("cafe\u0301 au lait"));
    }

    [Fact]
    public void Normalize_IdeographicSpace_BecomesAsciiSpace()
    {
        Assert.Equal("パス ワード", PasswordText.Normalize("パス\u3000ワード"));
    }

    [Fact]
    public void Normalize_AsciiPassword_IsUnchanged()
    {
        Assert.Equal("Correct horse battery staple", PasswordText.Normalize("Correct horse battery staple"));
    }
}
