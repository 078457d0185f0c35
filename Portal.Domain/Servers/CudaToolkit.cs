using System.Globalization;
using System.Text.RegularExpressions;
using Portal.Domain.Common;

namespace Portal.Domain.Servers;

/// <summary>A CUDA toolkit of the catalog: its version, the oldest NVIDIA driver that runs it, and how each backend provides it.</summary>
public sealed partial class CudaToolkit
{
    private CudaToolkit(string version, string minimumDriver, Dictionary<string, string> provisions)
    {
        Version = version;
        MinimumDriver = minimumDriver;
        Provisions = provisions;
    }

    public string Version { get; private set; }
    public string MinimumDriver { get; private set; }

    /// <summary>Backend name → how that backend provides the toolkit. A backend not listed does not offer it.</summary>
    public Dictionary<string, string> Provisions { get; private set; }

    public static CudaToolkit Define(string version, string minimumDriver, IReadOnlyDictionary<string, string> provisions)
    {
        if (!IsVersion(version))
        {
            throw new InvalidValueException(nameof(Version), "A CUDA version looks like 12.4.");
        }
        if (!DriverPattern().IsMatch(minimumDriver))
        {
            throw new InvalidValueException(nameof(MinimumDriver), "A driver version looks like 550.54.14.");
        }
        return new CudaToolkit(version, minimumDriver, new Dictionary<string, string>(provisions));
    }

    public static bool IsVersion(string? candidate) => candidate is not null && VersionPattern().IsMatch(candidate);

    /// <summary>Why this toolkit cannot be used on <paramref name="backend"/> with <paramref name="driverVersion"/>, or null when it can.</summary>
    public ToolkitRefusal? RefusalFor(string backend, string? driverVersion)
    {
        if (!Provisions.ContainsKey(backend))
        {
            return ToolkitRefusal.NotOfferedByBackend;
        }
        if (driverVersion is not null && CompareDriver(driverVersion, MinimumDriver) < 0)
        {
            return ToolkitRefusal.DriverTooOld;
        }
        return null;
    }

    /// <summary>Compares dotted driver versions numerically (550.54.14 &gt; 535.104.05).</summary>
    public static int CompareDriver(string a, string b)
    {
        var left = a.Split('.');
        var right = b.Split('.');
        for (var i = 0; i < Math.Max(left.Length, right.Length); i++)
        {
            var x = i < left.Length && int.TryParse(left[i], NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? l : 0;
            var y = i < right.Length && int.TryParse(right[i], NumberStyles.None, CultureInfo.InvariantCulture, out var r) ? r : 0;
            if (x != y)
            {
                return x.CompareTo(y);
            }
        }
        return 0;
    }

    [GeneratedRegex(@"^\d{1,2}\.\d{1,2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex VersionPattern();

    [GeneratedRegex(@"^\d{1,4}(\.\d{1,4}){0,3}\z", RegexOptions.CultureInvariant)]
    private static partial Regex DriverPattern();
}

public enum ToolkitRefusal
{
    NotInCatalog,
    NotOfferedByBackend,
    DriverTooOld,
}
