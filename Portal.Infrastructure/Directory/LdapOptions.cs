using System.ComponentModel.DataAnnotations;

namespace Portal.Infrastructure.Directory;

/// <summary>How a connection to the directory is protected (docs/decisions/0014-ldap-lockout-and-tls.md).</summary>
public enum LdapSecurity
{
    /// <summary>ldap:// upgraded with StartTLS, the certificate verified, before any credential is sent.</summary>
    StartTls,

    /// <summary>ldaps://: TLS from the first byte, the certificate verified.</summary>
    Ldaps,

    /// <summary>Plain LDAP: passwords travel unencrypted. Only when configured explicitly; the portal warns at start.</summary>
    None,
}

/// <summary>The <c>Ldap</c> configuration section.</summary>
public sealed class LdapOptions : IValidatableObject
{
    public const string Section = "Ldap";

    [Required]
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Null: 636 with <see cref="LdapSecurity.Ldaps"/>, else 389.</summary>
    [Range(1, 65535)]
    public int? Port { get; set; }

    public LdapSecurity Security { get; set; } = LdapSecurity.StartTls;

    /// <summary>
    /// A folder of PEM CA certificates to trust for the server's certificate, on top of libldap's own settings
    /// (ldap.conf <c>TLS_CACERT</c>, Debian: the system bundle). Null: those alone.
    /// </summary>
    public string? TrustedCertificatesDirectory { get; set; }

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

    /// <summary>
    /// At most this many connections bound as the service account are open at once, each kept for the next operation
    /// (docs/decisions/0016-ldap-service-connections.md); an operation beyond it waits for one to come back.
    /// </summary>
    [Range(1, 256)]
    public int ServiceConnectionPoolSize { get; set; } = 8;

    /// <summary>
    /// The password policy that applies to a person without <c>pwdPolicySubentry</c>, relative to <see cref="BaseDn"/>: the
    /// ppolicy overlay's <c>olcPPolicyDefault</c>, which the service account cannot read from cn=config.
    /// </summary>
    [Required]
    public string DefaultPasswordPolicy { get; set; } = "cn=default,ou=policies";

    /// <summary>How long a password policy read from the directory is reused.</summary>
    [Range(0, 3600)]
    public int PasswordPolicyCacheSeconds { get; set; } = 60;

    public int EffectivePort => Port ?? (Security == LdapSecurity.Ldaps ? 636 : 389);

    public string PeopleDn => $"{PeopleRdn},{BaseDn}";

    public string DefaultPasswordPolicyDn => $"{DefaultPasswordPolicy},{BaseDn}";

    public string GroupDn(string cn) => $"cn={LdapEscaping.DnValue(cn)},{GroupsRdn},{BaseDn}";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enum.IsDefined(Security))
        {
            yield return new ValidationResult($"Ldap:Security must be one of {string.Join(", ", Enum.GetNames<LdapSecurity>())}.",
                [nameof(Security)]);
        }
        if (TrustedCertificatesDirectory is { Length: > 0 } folder && !System.IO.Directory.Exists(folder))
        {
            yield return new ValidationResult($"Ldap:TrustedCertificatesDirectory {folder} does not exist.",
                [nameof(TrustedCertificatesDirectory)]);
        }
    }
}
