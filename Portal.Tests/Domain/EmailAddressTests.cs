using Portal.Domain.Accounts;

namespace Portal.Tests.Domain;

public sealed class EmailAddressTests
{
    [Theory]
    [InlineData("taro@keio.jp", "taro@keio.jp", "keio.jp")]
    [InlineData("Taro.Yamada@KEIO.JP", "Taro.Yamada@keio.jp", "keio.jp")]
    [InlineData("  s123@st.example.ac.jp ", "s123@st.example.ac.jp", "st.example.ac.jp")]
    public void Parse_ValidAddress_LowercasesDomainOnly(string candidate, string expected, string domain)
    {
        var email = EmailAddress.Parse(candidate);
        Assert.Equal(expected, email.Value);
        Assert.Equal(domain, email.Domain);
    }

    [Theory]
    [InlineData("")]
    [InlineData("taro")]
    [InlineData("@keio.jp")]
    [InlineData("taro@")]
    [InlineData("taro@keio")]
    [InlineData("taro@@keio.jp")]
    [InlineData("ta ro@keio.jp")]
    [InlineData("taro@keio..jp")]
    [InlineData("*)(mail=*@keio.jp")]
    [InlineData("taro@keio.jp\r\nBcc: x@evil.example")]
    [InlineData("tarö@keio.jp")]
    public void TryParse_Invalid_ReturnsFalse(string candidate)
    {
        Assert.False(EmailAddress.TryParse(candidate, out _));
    }

    [Fact]
    public void TryParse_OverLong_ReturnsFalse()
    {
        Assert.False(EmailAddress.TryParse(new string('a', 250) + "@x.jp", out _));
    }
}
