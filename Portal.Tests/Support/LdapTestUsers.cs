using System.DirectoryServices.Protocols;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Infrastructure.Directory;

namespace Portal.Tests.Support;

/// <summary>Creates and changes entries on the test slapd as its rootdn, to set up what a test needs.</summary>
public static class LdapTestUsers
{
    private static int _counter;

    public static LdapOptions Options(int? port = null)
    {
        var env = TestEnvironment.Current;
        return new LdapOptions
        {
            Host = env.LdapHost,
            Port = port ?? env.LdapPort,
            BaseDn = env.LdapBaseDn,
            ServiceDn = env.LdapServiceDn,
            ServicePassword = env.LdapServicePassword,
        };
    }

    public static LdapDirectory Directory(int? port = null) =>
        new(Microsoft.Extensions.Options.Options.Create(Options(port)), NullLogger<LdapDirectory>.Instance);

    /// <summary>A username no other test uses, e.g. <c>t3kq9x1</c>.</summary>
    public static string UniqueUsername(string prefix = "t") =>
        $"{prefix}{Interlocked.Increment(ref _counter)}x{Guid.NewGuid().ToString("N")[..8]}";

    public static string PersonDn(string uid) => $"uid={uid},ou=people,{TestEnvironment.Current.LdapBaseDn}";

    /// <summary>Adds a person, optionally to groups (cn under ou=groups) and with <c>pwdReset</c>.</summary>
    public static string CreatePerson(string uid, string password, bool mustChangePassword = false, params string[] groups)
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

    private static LdapConnection ConnectAsRoot()
    {
        var env = TestEnvironment.Current;
        var connection = new LdapConnection(new LdapDirectoryIdentifier(env.LdapHost, env.LdapPort)) { AuthType = AuthType.Basic };
        connection.SessionOptions.ProtocolVersion = 3;
        connection.Bind(new NetworkCredential(env.LdapRootDn, env.LdapRootPassword));
        return connection;
    }
}
