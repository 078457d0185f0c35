using System.Diagnostics;
using System.DirectoryServices.Protocols;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

namespace Portal.Tests.Support;

/// <summary>TLS files of a throwaway slapd: PEM text of the CA certificate, the server certificate and its key.</summary>
public sealed record SlapdTls(string CaCertificatePem, string ServerCertificatePem, string ServerKeyPem)
{
    /// <summary>The test slapd's own CA and server certificate (made by scripts/lib/ldap.sh), which the portal trusts.</summary>
    public static SlapdTls OfTheTestSlapd()
    {
        var tls = Path.GetDirectoryName(TestEnvironment.Current.LdapTrustedCertificatesDirectory.TrimEnd('/'))!;
        return new SlapdTls(File.ReadAllText(Path.Combine(tls, "ca", "ca.crt")), File.ReadAllText(Path.Combine(tls, "server.crt")),
            File.ReadAllText(Path.Combine(tls, "server.key")));
    }

    /// <summary>A CA of its own that nobody trusts, and a certificate for 127.0.0.1 from it.</summary>
    public static SlapdTls FromAnUntrustedCa()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Untrusted test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256);
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        using var server = serverRequest.Create(ca, now.AddDays(-1), now.AddDays(30), RandomNumberGenerator.GetBytes(16));
        return new SlapdTls(ca.ExportCertificatePem(), server.ExportCertificatePem(), serverKey.ExportPkcs8PrivateKeyPem());
    }
}

/// <summary>
/// A slapd of a test's own, from a temporary folder on spare loopback ports, with the configuration of the test slapd
/// (scripts/ldap/slapd.ldif.tmpl) changed as the test needs: other TLS files, none at all, or extra cn=config
/// settings. It holds the base entries and one person, and logs every connection and operation (<c>-d stats</c>), so a
/// test can tell what reached the server. For what the shared test slapd must not do (refuse plain binds, present a
/// foreign certificate, offer no TLS); stopped and deleted on dispose.
/// </summary>
public sealed partial class ThrowawaySlapd : IDisposable
{
    public const string PersonUid = "tlsperson";
    public const string PersonPassword = "Tls-person-password-1";

    /// <summary>A second person, for a test that changes the password.</summary>
    public const string ChangerUid = "tlschanger";

    private readonly string _dir = Directory.CreateTempSubdirectory("throwaway-slapd-").FullName;
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    /// <param name="tls">The certificate it serves with StartTLS and on its ldaps:// port; null: no TLS at all.</param>
    /// <param name="extraConfig">cn=config attribute lines, e.g. <c>olcSecurity: simple_bind=128</c>.</param>
    public ThrowawaySlapd(SlapdTls? tls, params string[] extraConfig)
    {
        var env = TestEnvironment.Current;
        Port = FreePort();
        LdapsPort = tls is null ? null : FreePort();
        var tlsDir = Path.Combine(_dir, "tls");
        System.IO.Directory.CreateDirectory(Path.Combine(tlsDir, "ca"));
        System.IO.Directory.CreateDirectory(Path.Combine(_dir, "data"));
        System.IO.Directory.CreateDirectory(Path.Combine(_dir, "slapd.d"));

        var config = Fill(File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "scripts", "ldap", "slapd.ldif.tmpl")))
            .Replace("@BASE@", _dir, StringComparison.Ordinal)
            .Replace("@TLS_DIR@", tlsDir, StringComparison.Ordinal)
            .Replace("@SERVICE_DN@", env.LdapServiceDn, StringComparison.Ordinal)
            // Clear text is fine for a rootdn that lives as long as one test class.
            .Replace("@ROOTPW@", env.LdapRootPassword, StringComparison.Ordinal);
        var lines = config.Split('\n').ToList();
        if (tls is null)
        {
            lines.RemoveAll(l => l.StartsWith("olcTLS", StringComparison.Ordinal));
        }
        else
        {
            File.WriteAllText(Path.Combine(tlsDir, "ca", "ca.crt"), tls.CaCertificatePem);
            File.WriteAllText(Path.Combine(tlsDir, "server.crt"), tls.ServerCertificatePem);
            File.WriteAllText(Path.Combine(tlsDir, "server.key"), tls.ServerKeyPem);
            File.SetUnixFileMode(Path.Combine(tlsDir, "server.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        lines.InsertRange(lines.FindIndex(l => l.StartsWith("olcLogLevel:", StringComparison.Ordinal)) + 1, extraConfig);
        File.WriteAllText(Path.Combine(_dir, "slapd.ldif"), string.Join('\n', lines));
        Run("/usr/sbin/slapadd", "-n0", "-F", Path.Combine(_dir, "slapd.d"), "-l", Path.Combine(_dir, "slapd.ldif"), "-q");

        // The base entries and one person, added offline (their passwords hashed here, as ppolicy would on an add).
        var data = Fill(File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "scripts", "ldap", "base.ldif.tmpl")))
            .Replace("@SERVICE_PASSWORD_HASH@", Ssha(env.LdapServicePassword), StringComparison.Ordinal)
            .Replace("@ADMIN_PASSWORD_HASH@", Ssha(env.AdminPassword), StringComparison.Ordinal)
            + Person(PersonUid, 19998) + Person(ChangerUid, 19999);
        File.WriteAllText(Path.Combine(_dir, "base.ldif"), data);
        Run("/usr/sbin/slapadd", "-F", Path.Combine(_dir, "slapd.d"), "-b", env.LdapBaseDn, "-l", Path.Combine(_dir, "base.ldif"), "-q");

        var urls = $"ldap://127.0.0.1:{Port}/" + (LdapsPort is { } ldaps ? $" ldaps://127.0.0.1:{ldaps}/" : "");
        var start = new ProcessStartInfo("/usr/sbin/slapd") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { "-h", urls, "-F", Path.Combine(_dir, "slapd.d"), "-d", "stats" })
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("slapd did not start.");
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        WaitUntilAnswering();
    }

    /// <summary>Its ldap:// port (plain, and StartTLS when it has TLS).</summary>
    public int Port { get; }

    /// <summary>Its ldaps:// port, when it has TLS.</summary>
    public int? LdapsPort { get; }

    /// <summary>What slapd logged so far (connections, TLS sessions, binds with their DNs, operations; never passwords).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// Waits until slapd has logged every connection made before this call, and the close of each, so that the log holds
    /// all that reached it over them (the log is read as slapd writes it, a little behind the client). A connection of
    /// its own, opened now, marks the point: slapd's listener logs the connections it accepts in order, so once this
    /// one's accept is in the log, so are all the earlier ones'. Without it, a log that so far held only earlier,
    /// closed connections passed for complete.
    /// </summary>
    public string LogOnceAllConnectionsClosed()
    {
        int markPort;
        using (var mark = new TcpClient())
        {
            mark.Connect(IPAddress.Loopback, Port);
            markPort = ((IPEndPoint)mark.Client.LocalEndPoint!).Port;
        }
        var markAccepted = $" ACCEPT from IP=127.0.0.1:{markPort} ";
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var log = Log;
            var accepted = ConnectionOf(log, " ACCEPT from ");
            if (log.Contains(markAccepted, StringComparison.Ordinal) && accepted.IsSubsetOf(ConnectionOf(log, " closed")))
            {
                return log;
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException($"slapd logged no close of connection(s) {string.Join(", ", accepted.Except(ConnectionOf(log, " closed")))}: {log}");
            }
            Thread.Sleep(20);
        }

        static HashSet<string> ConnectionOf(string log, string marker) =>
        [
            .. log.Split('\n').Where(l => l.Contains(marker, StringComparison.Ordinal))
                .Select(l => ConnectionId().Match(l)).Where(m => m.Success).Select(m => m.Value),
        ];
    }

    /// <summary>The log lines of binds with a DN, i.e. with a credential (an anonymous bind has <c>dn=""</c>).</summary>
    public IReadOnlyList<string> CredentialBinds() =>
        [.. LogOnceAllConnectionsClosed().Split('\n').Where(l => l.Contains(" BIND dn=\"", StringComparison.Ordinal) && !l.Contains(" BIND dn=\"\"", StringComparison.Ordinal))];

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        System.IO.Directory.Delete(_dir, recursive: true);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private void WaitUntilAnswering()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit();
                throw new InvalidOperationException($"slapd exited with {_process.ExitCode}: {Log}");
            }
            try
            {
                using var connection = new LdapConnection(new LdapDirectoryIdentifier("127.0.0.1", Port)) { AuthType = AuthType.Anonymous };
                connection.SessionOptions.ProtocolVersion = 3;
                connection.Bind();
                return;
            }
            catch (LdapException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(20);
            }
        }
    }

    private static string Person(string uid, int uidNumber) => $"""


        dn: uid={uid},ou=people,{TestEnvironment.Current.LdapBaseDn}
        objectClass: inetOrgPerson
        objectClass: posixAccount
        objectClass: shadowAccount
        uid: {uid}
        cn: Test {uid}
        sn: {uid}
        mail: {uid}@example.org
        uidNumber: {uidNumber}
        gidNumber: 10000
        homeDirectory: /home/{uid}
        userPassword: {Ssha(PersonPassword)}
        """;

    /// <summary>The template with its comments dropped and the suffix filled in, as scripts/lib/ldap.sh does.</summary>
    private static string Fill(string template) =>
        string.Join('\n', template.Split('\n').Where(l => !l.StartsWith('#')))
            .Replace("@SUFFIX@", TestEnvironment.Current.LdapBaseDn, StringComparison.Ordinal);

    /// <summary>{SSHA}: salted SHA-1, what slapd's olcPasswordHash makes (RFC 2307 style).</summary>
    private static string Ssha(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(8);
        var digest = SHA1.HashData([.. Encoding.UTF8.GetBytes(password), .. salt]);
        return "{SSHA}" + Convert.ToBase64String([.. digest, .. salt]);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    [GeneratedRegex(@"conn=\d+")]
    private static partial Regex ConnectionId();

    private static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}{output.Result}");
        }
    }
}
