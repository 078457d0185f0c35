using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Portal.Tests.Support;

/// <summary>
/// The real services of the <c>test</c> profile (PostgreSQL, OpenLDAP on loopback), started once per run.
/// scripts/test starts them and exports their settings; a plain <c>dotnet test</c> starts them here through the
/// same script, so one test class can be run on its own.
/// </summary>
public sealed partial class TestEnvironment
{
    private static readonly Lazy<TestEnvironment> Shared = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly IReadOnlyDictionary<string, string> _values;

    private TestEnvironment(IReadOnlyDictionary<string, string> values) => _values = values;

    public static TestEnvironment Current => Shared.Value;

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public string this[string key] =>
        _values.TryGetValue(key, out var value) ? value : throw new InvalidOperationException($"Test setting {key} is missing.");

    public string PostgresConnectionString => this["ConnectionStrings__Portal"];
    public string LdapHost => this["Ldap__Host"];
    public int LdapPort => int.Parse(this["Ldap__Port"], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The test slapd's ldaps:// port (its ldap:// port offers plain LDAP and StartTLS).</summary>
    public int LdapsPort => int.Parse(this["PORTAL_LDAPS_PORT"], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>How the portal protects its LDAP connections in the tests: <c>StartTls</c>, as by default.</summary>
    public string LdapSecurity => this["Ldap__Security"];

    /// <summary>The folder holding the test CA's certificate (and nothing secret), which the portal trusts.</summary>
    public string LdapTrustedCertificatesDirectory => this["Ldap__TrustedCertificatesDirectory"];
    public string LdapBaseDn => this["Ldap__BaseDn"];
    public string LdapServiceDn => this["Ldap__ServiceDn"];
    public string LdapServicePassword => this["Ldap__ServicePassword"];
    public string LdapRootDn => this["PORTAL_LDAP_ROOT_DN"];
    public string LdapRootPassword => this["PORTAL_LDAP_ROOT_PASSWORD"];
    public string AdminUsername => this["PORTAL_SEED_ADMIN_USERNAME"];
    public string AdminPassword => this["PORTAL_SEED_ADMIN_PASSWORD"];
    public string SmtpHost => this["Mail__SmtpHost"];
    public int SmtpPort => int.Parse(this["Mail__SmtpPort"], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The Maildir where the test SMTP sink drops what it receives.</summary>
    public string SmtpMaildir => this["PORTAL_SMTP_MAILDIR"];

    /// <summary>Portal configuration keys (as in appsettings.json) for the test services.</summary>
    public IEnumerable<KeyValuePair<string, string?>> PortalSettings(string connectionString) =>
    [
        new("ConnectionStrings:Portal", connectionString),
        new("Ldap:Host", LdapHost),
        new("Ldap:Port", LdapPort.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("Ldap:Security", LdapSecurity),
        new("Ldap:TrustedCertificatesDirectory", LdapTrustedCertificatesDirectory),
        new("Ldap:BaseDn", LdapBaseDn),
        new("Ldap:ServiceDn", LdapServiceDn),
        new("Ldap:ServicePassword", LdapServicePassword),
        new("Mail:SmtpHost", SmtpHost),
        new("Mail:SmtpPort", SmtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture)),
    ];

    private static TestEnvironment Load()
    {
        if (Environment.GetEnvironmentVariable("PORTAL_PROFILE") == "test")
        {
            var fromEnvironment = new Dictionary<string, string>();
            foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
            {
                fromEnvironment[(string)entry.Key] = (string?)entry.Value ?? "";
            }
            return new TestEnvironment(fromEnvironment);
        }
        Run("start", "test");
        return new TestEnvironment(ParseExports(Run("env", "test")));
    }

    private static string Run(params string[] arguments)
    {
        var script = Path.Combine(RepositoryRoot, "scripts", "services");
        var start = new ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not run {script}.");
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) => stderr.AppendLine(e.Data);
        process.BeginErrorReadLine();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/services {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr}");
        }
        return stdout;
    }

    /// <summary>Reads the <c>export KEY='VALUE'</c> lines that <c>scripts/services env</c> prints.</summary>
    internal static Dictionary<string, string> ParseExports(string text)
    {
        var values = new Dictionary<string, string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var match = ExportLine().Match(line);
            if (match.Success)
            {
                values[match.Groups["key"].Value] = match.Groups["value"].Value.Replace("'\\''", "'", StringComparison.Ordinal);
            }
        }
        return values;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Portal.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No Portal.sln above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"^export (?<key>[A-Za-z_][A-Za-z0-9_]*)='(?<value>(?:[^']|'\\'')*)'$")]
    private static partial Regex ExportLine();
}
