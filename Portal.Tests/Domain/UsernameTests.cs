using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Tests.Domain;

public sealed class UsernameTests
{
    [Theory]
    [InlineData("ab")]
    [InlineData("admin")]
    [InlineData("s2301234")]
    [InlineData("taro_yamada")]
    [InlineData("taro-yamada")]
    [InlineData("a1234567890123456789012345678901")] // 32 characters
    public void Parse_ValidName_KeepsItUnchanged(string candidate)
    {
        Assert.Equal(candidate, Username.Parse(candidate).Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("a")] // too short
    [InlineData("a12345678901234567890123456789012")] // 33 characters
    [InlineData("Admin")] // uppercase
    [InlineData("1admin")] // starts with a digit
    [InlineData("_admin")]
    [InlineData("-admin")]
    [InlineData("taro.yamada")]
    [InlineData("taro yamada")]
    [InlineData("admin\n")] // a trailing newline must not slip past an end anchor
    [InlineData("admin\0")]
    [InlineData("jöhn")]
    [InlineData("ａｄｍｉｎ")] // full-width letters
    [InlineData("*")]
    [InlineData("*)(uid=*")]
    [InlineData("admin)(|(objectClass=*")]
    [InlineData("admin*")]
    [InlineData("a\\5c")]
    [InlineData("uid=admin,ou=people")]
    [InlineData("admin,ou=people")]
    public void Parse_InvalidOrInjectionString_ThrowsInvalidValue(string candidate)
    {
        var error = Assert.Throws<InvalidValueException>(() => Username.Parse(candidate));
        Assert.Equal(nameof(Username), error.Field);
        Assert.False(Username.TryParse(candidate, out var parsed));
        Assert.Null(parsed);
    }

    [Fact]
    public void Parse_Null_ThrowsInvalidValue()
    {
        Assert.Throws<InvalidValueException>(() => Username.Parse(null));
    }

    [Fact]
    public void Equality_SameValue_IsEqual()
    {
        Assert.Equal(Username.Parse("alice"), Username.Parse("alice"));
        Assert.NotEqual(Username.Parse("alice"), Username.Parse("bob"));
    }
}
