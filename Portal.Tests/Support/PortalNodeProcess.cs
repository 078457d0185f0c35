using System.Diagnostics;
using System.Text;

namespace Portal.Tests.Support;

/// <summary>
/// The real portal as a process of its own (the Portal.dll this test project was built with), so that a test can run
/// two nodes on one database and kill one with SIGKILL, as an operator's crash would. Its output is kept for the
/// failure message.
/// </summary>
public sealed class PortalNodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _root = Directory.CreateTempSubdirectory("portal-node-").FullName;

    private PortalNodeProcess(TestDatabase database, int ldapPort, IReadOnlyDictionary<string, string> settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        start.ArgumentList.Add("--contentRoot");
        start.ArgumentList.Add(Path.Combine(TestEnvironment.RepositoryRoot, "Portal"));
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        foreach (var (key, value) in TestEnvironment.Current.PortalSettings(database.ConnectionString))
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        start.Environment["Ldap__Port"] = ldapPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["LocalProcess__HomeRoot"] = Path.Combine(_root, "homes");
        start.Environment["LocalProcess__StateDirectory"] = Path.Combine(_root, "state");
        start.Environment["Servers__DiscoverGpus"] = "false";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the portal.");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public static PortalNodeProcess Start(TestDatabase database, int ldapPort, IReadOnlyDictionary<string, string> settings) =>
        new(database, ldapPort, settings);

    /// <summary>SIGKILL: no shutdown, no cleanup; the kernel closes its sockets.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>The last lines the node wrote, for a failure message.</summary>
    public string Tail(int lines = 40)
    {
        lock (_output)
        {
            var all = _output.ToString().Split('\n');
            return string.Join('\n', all[Math.Max(0, all.Length - lines)..]);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A process that just exited may still hold a file; the temp folder is cleaned by the OS later.
        }
    }
}
