namespace Portal.Domain.Accounts;

public enum AccountStatus
{
    Active,
    Suspended,
}
