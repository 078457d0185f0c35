using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Directory;

/// <summary>The <c>Ldap</c> configuration section.</summary>
public sealed class LdapOptions
{
    public const string Section = "Ldap";

    [Required]
    public string Host { get; set; } = "127.0.0.1";

    [Range(1, 65535)]
    public int Port { get; set; } = 389;

    /// <summary>Upgrade each connection with StartTLS before any credential is sent.</summary>
    public bool UseStartTls { get; set; }

    [Required]
    public string BaseDn { get; set; } = "dc=example,dc=org";

    /// <summary>Where people live, relative to <see cref="BaseDn"/>.</summary>
    public string PeopleRdn { get; set; } = "ou=people";

    public string GroupsRdn { get; set; } = "ou=groups";

    /// <summary>The portal's own account: finds users and manages entries. Not the rootdn, so ppolicy applies to it.</summary>
    [Required]
    public string ServiceDn { get; set; } = "";

    [Required]
    public string ServicePassword { get; set; } = "";

    /// <summary>Members of this group (cn, under <see cref="GroupsRdn"/>) are admins.</summary>
    public string AdminGroup { get; set; } = "portal-admins";

    /// <summary>Members of this group are staff.</summary>
    public string StaffGroup { get; set; } = "portal-staff";

    /// <summary>The posix group (cn) whose gidNumber provisioned students get, and which they join.</summary>
    public string StudentsGroup { get; set; } = "students";

    public string LoginShell { get; set; } = "/bin/bash";

    public string HomeRoot { get; set; } = "/home";

    [Range(1, 120)]
    public int TimeoutSeconds { get; set; } = 10;

    public string PeopleDn => $"{PeopleRdn},{BaseDn}";

    public string GroupDn(string cn) => $"cn={LdapEscaping.DnValue(cn)},{GroupsRdn},{BaseDn}";
}
