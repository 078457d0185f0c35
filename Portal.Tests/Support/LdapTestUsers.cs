using System.DirectoryServices.Protocols;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Infrastructure.Directory;

namespace Portal.Tests.Support;

/// <summary>Creates and changes entries on the test slapd as its rootdn, to set up what a test needs.</summary>
public static class LdapTestUsers
{
    private static int _counter;

    /// <summary>The portal's settings for the test slapd: StartTLS, trusting the test CA, as the portal does by default.</summary>
    public static LdapOptions Options(int? port = null)
    {
        var env = TestEnvironment.Current;
        return new LdapOptions
        {
            Host = env.LdapHost,
            Port = port ?? env.LdapPort,
            Security = Enum.Parse<LdapSecurity>(env.LdapSecurity),
            TrustedCertificatesDirectory = env.LdapTrustedCertificatesDirectory,
            BaseDn = env.LdapBaseDn,
            ServiceDn = env.LdapServiceDn,
            ServicePassword = env.LdapServicePassword,
        };
    }

    public static LdapDirectory Directory(int? port = null) => Directory(Options(port));

    public static LdapDirectory Directory(LdapOptions options) =>
        new(Microsoft.Extensions.Options.Options.Create(options), NullLogger<LdapDirectory>.Instance, TimeProvider.System);

    /// <summary>A username no other test uses, e.g. <c>t3kq9x1</c>.</summary>
    public static string UniqueUsername(string prefix = "t") =>
        $"{prefix}{Interlocked.Increment(ref _counter)}x{Guid.NewGuid().ToString("N")[..8]}";

    public static string PersonDn(string uid) => $"uid={uid},ou=people,{TestEnvironment.Current.LdapBaseDn}";

    /// <summary>Adds a person, optionally to groups (cn under ou=groups) and with <c>pwdReset</c>.</summary>
    public static string CreatePerson(string uid, string password, bool mustChangePassword = false, params string[] groups) =>
        CreatePerson(uid, password, mustChangePassword, passwordPolicyDn: null, groups);

    /// <summary>Adds a person under the password policy <paramref name="passwordPolicyDn"/> (<c>pwdPolicySubentry</c>; null: the default policy).</summary>
    public static string CreatePerson(string uid, string password, bool mustChangePassword, string? passwordPolicyDn, params string[] groups)
    {
        var dn = PersonDn(uid);
        using var root = ConnectAsRoot();
        var attributes = new List<DirectoryAttribute>
        {
            new("objectClass", "inetOrgPerson", "posixAccount", "shadowAccount"),
            new("uid", uid), new("cn", $"Test {uid}"), new("sn", uid), new("mail", $"{uid}@example.org"),
            new("uidNumber", (20000 + Interlocked.Increment(ref _counter) + Random.Shared.Next(1_000_000)).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("gidNumber", "10000"), new("homeDirectory", $"/home/{uid}"), new("loginShell", "/bin/bash"),
            new("userPassword", password),
        };
        if (mustChangePassword)
        {
            attributes.Add(new DirectoryAttribute("pwdReset", "TRUE"));
        }
        if (passwordPolicyDn is not null)
        {
            attributes.Add(new DirectoryAttribute("pwdPolicySubentry", passwordPolicyDn));
        }
        root.SendRequest(new AddRequest(dn, [.. attributes]));
        foreach (var group in groups)
        {
            root.SendRequest(new ModifyRequest($"cn={group},ou=groups,{TestEnvironment.Current.LdapBaseDn}",
                DirectoryAttributeOperation.Add, "member", dn));
        }
        return dn;
    }

    /// <summary>Locks the account the way ppolicy does after too many failures (or an admin disables it).</summary>
    public static void Lock(string uid)
    {
        using var root = ConnectAsRoot();
        root.SendRequest(new ModifyRequest(PersonDn(uid), DirectoryAttributeOperation.Replace, "pwdAccountLockedTime", "000001010000Z"));
    }

    /// <summary>
    /// Adds a password policy of its own for a test (a person gets it through <c>pwdPolicySubentry</c>), so a test can
    /// shorten the lockout without touching the default policy that other tests use. Returns its DN.
    /// </summary>
    public static string CreateLockoutPolicy(int maxFailures, TimeSpan lockoutDuration, TimeSpan failureCountInterval)
    {
        var dn = $"cn={UniqueUsername("policy")},ou=policies,{TestEnvironment.Current.LdapBaseDn}";
        using var root = ConnectAsRoot();
        root.SendRequest(new AddRequest(dn,
            new DirectoryAttribute("objectClass", "namedPolicy", "pwdPolicy"),
            new DirectoryAttribute("pwdAttribute", "userPassword"),
            new DirectoryAttribute("pwdLockout", "TRUE"),
            new DirectoryAttribute("pwdMaxFailure", Seconds(maxFailures)),
            new DirectoryAttribute("pwdLockoutDuration", Seconds((int)lockoutDuration.TotalSeconds)),
            new DirectoryAttribute("pwdFailureCountInterval", Seconds((int)failureCountInterval.TotalSeconds))));
        return dn;

        static string Seconds(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The entry's <c>pwdAccountLockedTime</c> as the directory wrote it, or null.</summary>
    public static string? LockedTime(string uid)
    {
        using var root = ConnectAsRoot();
        var response = (SearchResponse)root.SendRequest(new SearchRequest(PersonDn(uid), "(objectClass=*)", SearchScope.Base, "pwdAccountLockedTime"));
        return response.Entries[0].Attributes["pwdAccountLockedTime"]?.GetValues(typeof(string)) is { Length: > 0 } values ? (string)values[0] : null;
    }

    /// <summary>
    /// The test slapd's rootdn, over StartTLS with the test CA like the portal; set up again when the connection is
    /// dropped at once while being set up (<see cref="Retrying{T}"/>).
    /// </summary>
    private static LdapConnection ConnectAsRoot() => Retrying(ConnectAsRootOnce);

    /// <summary>
    /// A plain-LDAP connection to the test slapd bound as <paramref name="dn"/>, for tests that check what the
    /// directory itself answers (an <see cref="LdapException"/> with its result code when the bind is refused).
    /// </summary>
    public static LdapConnection BindAs(string dn, string password) => Retrying(() =>
    {
        var env = TestEnvironment.Current;
        var connection = new LdapConnection(new LdapDirectoryIdentifier(env.LdapHost, env.LdapPort)) { AuthType = AuthType.Basic };
        try
        {
            connection.SessionOptions.ProtocolVersion = 3;
            connection.Bind(new NetworkCredential(dn, password));
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    });

    /// <summary>
    /// Sets a connection up again at once (twice at most) when it is dropped or refused (81, 91), as the portal does
    /// (LdapDirectory.ConnectAndBind): under load the test slapd now and then drops a new connection, and that is not
    /// the answer a test asks the directory for.
    /// </summary>
    private static T Retrying<T>(Func<T> connect)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return connect();
            }
            catch (LdapException e) when (attempt < 3 && e.ErrorCode is 81 or 91)
            {
                // A new connection on the next pass; the failed one is gone.
            }
        }
    }

    private static LdapConnection ConnectAsRootOnce()
    {
        var env = TestEnvironment.Current;
        var connection = new LdapConnection(new LdapDirectoryIdentifier(env.LdapHost, env.LdapPort)) { AuthType = AuthType.Anonymous };
        try
        {
            connection.SessionOptions.ProtocolVersion = 3;
            connection.SessionOptions.TrustedCertificatesDirectory = env.LdapTrustedCertificatesDirectory;
            connection.SessionOptions.StartNewTlsSessionContext();
            connection.Bind();
            connection.SessionOptions.StartTransportLayerSecurity(null);
            connection.AuthType = AuthType.Basic;
            connection.Bind(new NetworkCredential(env.LdapRootDn, env.LdapRootPassword));
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }
}
