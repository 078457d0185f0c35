using Portal.Domain.Accounts;

namespace Portal.Tests.Domain;

/// <summary>"Nothing predictable": repeats of a few characters and runs of neighbouring ones are refused.</summary>
public sealed class PasswordPredictabilityTests
{
    private static readonly Username Alice = Username.Parse("alice42");
    private static readonly PasswordPolicy Policy = new(new HashSet<string> { "password1234" });

    private static PasswordVerdict Check(string password) => Policy.Check(password, Alice, "Alice Wonderland");

    [Theory]
    [InlineData("aaaaaaaaaaaa")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA")]
    [InlineData("            ")]
    [InlineData("ああああああああああああ")]
    [InlineData("🍣🍣🍣🍣🍣🍣🍣🍣🍣🍣🍣🍣")]
    [InlineData("abababababab")]
    [InlineData("abcabcabcabc")]
    [InlineData("1a2b1a2b1a2b1a")]
    [InlineData("qwerqwerqwerqwer")]
    [InlineData("abcdefghijkl")]
    [InlineData("ABCDEFGHIJKLMNOP")]
    [InlineData("zyxwvutsrqpo")]
    [InlineData("123456789012")]
    [InlineData("987654321098")]
    [InlineData("aaaaaaaaaaab")]
    [InlineData("aabbccddeeff")]
    public void Check_RepeatOrRun_RejectedAsPredictable(string password)
    {
        var rejected = Assert.IsType<PasswordVerdict.Rejected>(Check(password));
        Assert.Equal(PasswordRejection.Predictable, rejected.Reason);
    }

    [Theory]
    [InlineData("purple tiger purple tiger")]
    [InlineData("Violet river under the moon")]
    [InlineData("tr0ub4dor&3xyz")]
    [InlineData("月が綺麗ですね、本当に今夜は")]
    [InlineData("kqzmrtwpbvne")]
    public void Check_PhraseOrMixedCharacters_Accepted(string password)
    {
        Assert.IsType<PasswordVerdict.Accepted>(Check(password));
    }

    [Fact]
    public void Check_ShortRepeat_TooShortComesFirst()
    {
        var rejected = Assert.IsType<PasswordVerdict.Rejected>(Check("aaaa"));
        Assert.Equal(PasswordRejection.TooShort, rejected.Reason);
    }
}
