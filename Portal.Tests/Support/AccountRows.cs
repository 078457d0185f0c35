using Portal.Domain.Accounts;

namespace Portal.Tests.Support;

/// <summary>Account rows as the portal writes them at a person's first sign-in, for tests that need one to exist.</summary>
public static class AccountRows
{
    public static async Task<Account> AddAsync(TestDatabase database, string uid, string email, Role role = Role.Student)
    {
        var account = Account.FromDirectory(new DirectoryUser(Username.Parse(uid), LdapTestUsers.PersonDn(uid), $"Test {uid}",
            EmailAddress.Parse(email), null, role, MustChangePassword: false), DateTimeOffset.UtcNow);
        await using var db = database.CreateDbContext();
        db.Accounts.Add(account);
        await db.SaveChangesAsync();
        return account;
    }
}
