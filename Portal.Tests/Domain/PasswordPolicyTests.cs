using Portal.Domain.Accounts;

namespace Portal.Tests.Domain;

public sealed class PasswordPolicyTests
{
    private static readonly Username Alice = Username.Parse("alice42");
    private const string AliceName = "Alice Wonderland-Smith";

    private static readonly PasswordPolicy Policy = new(new HashSet<string> { "correcthorsebatterystaple", "password1234" });

    private static PasswordRejection? Rejection(string password, string? current = null, string? displayName = AliceName) =>
        Policy.Check(password, Alice, displayName, current) is PasswordVerdict.Rejected rejected ? rejected.Reason : null;

    [Fact]
    public void Check_ElevenCharacters_RejectedAsTooShort()
    {
        Assert.Equal(PasswordRejection.TooShort, Rejection("abcdefghijk"));
    }

    [Fact]
    public void Check_ExactlyTheMinimum_Accepted()
    {
        Assert.Null(Rejection("kqzmrtwpbvne"));
    }

    [Fact]
    public void Check_ConfiguredMinimum_AppliesInsteadOfTwelve()
    {
        var policy = new PasswordPolicy(new HashSet<string>(), minimumLength: 16);

        Assert.IsType<PasswordVerdict.Rejected>(policy.Check("fifteen-chars-x", Alice, null));
        Assert.IsType<PasswordVerdict.Accepted>(policy.Check("sixteen-chars-xy", Alice, null));
        Assert.Equal(16, policy.MinimumLength);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    public void Check_LongPassphrase_Accepted(int length)
    {
        Assert.Null(Rejection(Phrase(length)));
    }

    [Fact]
    public void Check_129Characters_RejectedAsTooLong()
    {
        Assert.Equal(PasswordRejection.TooLong, Rejection(Phrase(129)));
    }

    [Fact]
    public void Check_MegabyteOfInput_RejectedAsTooLong()
    {
        Assert.Equal(PasswordRejection.TooLong, Rejection(new string('x', 1_000_000)));
    }

    [Theory]
    [InlineData("a few words with spaces")]
    [InlineData("月が綺麗ですね、本当に今夜は")]
    [InlineData("🍣🍜🍙🍱🍛🍝🍤🍡🍢🍥🍘🍚")]
    [InlineData("Grüße aus Köln & Zürich")]
    public void Check_SpacesJapaneseAndEmoji_Accepted(string password)
    {
        Assert.Null(Rejection(password));
    }

    [Fact]
    public void Check_TwelveEmoji_CountAsTwelveCharactersNotTwentyFour()
    {
        // Each emoji is two UTF-16 units; eleven of them are still too short.
        Assert.Equal(PasswordRejection.TooShort, Rejection("🍣🍜🍙🍱🍛🍝🍤🍡🍢🍥🍘"));
        Assert.Null(Rejection("🍣🍜🍙🍱🍛🍝🍤🍡🍢🍥🍘🍚"));
    }

    [Fact]
    public void Check_DecomposedAccents_CountedAfterNormalisation()
    {
        // Eleven characters typed as 22 code points (each "é" as e + combining acute): still eleven, so too short.
        var decomposed = string.Concat(Enumerable.Repeat("e\u0301", 11));
        Assert.Equal(PasswordRejection.TooShort, Rejection(decomposed));
    }

    [Fact]
    public void Check_NfcAndNfdForms_AreTheSamePassword()
    {
        const string composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e";
        const string decomposed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e";

        Assert.Null(Rejection(decomposed));
        Assert.Equal(PasswordRejection.SameAsCurrent, Rejection(decomposed, current: composed));
    }

    [Theory]
    [InlineData("correcthorsebatterystaple")]
    [InlineData("CorrectHorseBatteryStaple")]
    [InlineData("PASSWORD1234")]
    public void Check_CommonPasswordInAnyCase_RejectedAsCommon(string password)
    {
        Assert.Equal(PasswordRejection.Common, Rejection(password));
    }

    [Theory]
    [InlineData("my alice42 password")]
    [InlineData("xxALICE42xxxx")]
    public void Check_ContainsUsername_Rejected(string password)
    {
        Assert.Equal(PasswordRejection.ContainsUsername, Rejection(password));
    }

    [Theory]
    [InlineData("wonderland rocks!")]
    [InlineData("my-SMITH-family-2024")]
    [InlineData("alice in chains forever")]
    public void Check_ContainsPartOfName_RejectedAsContainsName(string password)
    {
        Assert.Equal(PasswordRejection.ContainsName, Rejection(password));
    }

    [Fact]
    public void Check_NamePartsShorterThanThree_NotChecked()
    {
        Assert.Null(Rejection("the ox and the yak ate", displayName: "Ox Yu"));
    }

    [Fact]
    public void Check_JapaneseName_PartsOfThreeOrMoreChecked()
    {
        Assert.Equal(PasswordRejection.ContainsName, Rejection("わたしはさくらこです!!", displayName: "山田 さくらこ"));
    }

    [Fact]
    public void Check_NoDisplayName_OnlyUsernameChecked()
    {
        Assert.Null(Rejection("wonderland rocks!", displayName: null));
    }

    [Fact]
    public void Check_SameAsCurrent_Rejected()
    {
        Assert.Equal(PasswordRejection.SameAsCurrent, Rejection("Initial-password-1", current: "Initial-password-1"));
        Assert.Null(Rejection("Initial-password-2", current: "Initial-password-1"));
    }

    [Fact]
    public void Check_SeveralRulesBroken_NamesTheFirst()
    {
        // Short, common and containing the username: too short comes first.
        Assert.Equal(PasswordRejection.TooShort, Rejection("alice42", current: "alice42"));
    }

    [Fact]
    public void Constructor_MinimumBelowEight_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PasswordPolicy(new HashSet<string>(), minimumLength: 6));
    }

    /// <summary>A passphrase of exactly <paramref name="length"/> characters, none of them a name part.</summary>
    private static string Phrase(int length) =>
        string.Concat(Enumerable.Repeat("purple tiger ", 20))[..length];
}
