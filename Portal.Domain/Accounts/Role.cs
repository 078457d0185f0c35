namespace Portal.Domain.Accounts;

/// <summary>What a person may do in the portal, from their LDAP group membership.</summary>
public enum Role
{
    Student,
    Staff,
    Admin,
}

public static class Roles
{
    /// <summary>Names used in claims and authorization policies; one place so pages and policies agree.</summary>
    public const string Student = nameof(Role.Student);
    public const string Staff = nameof(Role.Staff);
    public const string Admin = nameof(Role.Admin);

    /// <summary>Admins can do what staff can, and staff what students can.</summary>
    public static bool Includes(this Role role, Role required) => role >= required;
}
