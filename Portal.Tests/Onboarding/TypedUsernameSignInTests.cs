using Portal.Infrastructure.Accounts;
using Portal.Tests.Admin;
using Portal.Tests.Support;

namespace Portal.Tests.Onboarding;

/// <summary>Sign-in with a username spelled in look-alike characters, on the real slapd.</summary>
public sealed class TypedUsernameSignInTests : MigratedDatabaseTest
{
    [Fact]
    public async Task SignInAsync_KelvinSignForK_RefusedAsMalformedNotSignedInAsTheAsciiUser()
    {
        using var services = new UserAdminServices(Database);
        var uid = LdapTestUsers.UniqueUsername("k");
        LdapTestUsers.CreatePerson(uid, "Kelvin-password-1");

        var lookalike = await services.SignIn.SignInAsync("\u212A" + uid[1..], "Kelvin-password-1", "192.0.2.40", CancellationToken.None);
        var capitals = await services.SignIn.SignInAsync(uid.ToUpperInvariant(), "Kelvin-password-1", "192.0.2.40", CancellationToken.None);

        Assert.Equal(new SignInResult.Failed(SignInFailure.MalformedUsername), lookalike);
        Assert.Equal(uid, Assert.IsType<SignInResult.Succeeded>(capitals).Account.Username.Value);
    }
}
