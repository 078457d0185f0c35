using System.Globalization;

namespace Portal.Tests.Support;

/// <summary>
/// Blocks of loopback ports for the servers that tests start (Jupyter processes, published container ports).
/// </summary>
/// <remarks>
/// The blocks lie below the kernel's ephemeral range (32768–60999 on Debian): a port in that range can be handed to
/// any process's outgoing connection between the backend's check that it is free and the server's bind, and the server
/// then dies with "port already in use". Under load (a busy CI machine, hundreds of pooled connections) that happened.
/// The two ranges are clear of the fixed ports of both service profiles (scripts/lib/*.sh). Each test process starts
/// at a random block, so two test runs sharing the machine rarely meet; the backends skip a port that is taken anyway.
/// </remarks>
public static class TestPorts
{
    public const int BlockSize = 20;

    private static readonly (int Start, int End)[] Ranges = [(24_000, 24_999), (29_000, 29_999)];
    private static readonly int BlocksPerRange = (Ranges[0].End - Ranges[0].Start + 1) / BlockSize;
    private static readonly int BlockCount = BlocksPerRange * Ranges.Length;
    private static int _next = Random.Shared.Next(BlockCount);

    static TestPorts()
    {
        var ephemeralStart = EphemeralRangeStart();
        if (Ranges.Any(r => r.End >= ephemeralStart))
        {
            throw new InvalidOperationException(
                $"The test port blocks reach into this machine's ephemeral port range (from {ephemeralStart}); move them below it.");
        }
    }

    /// <summary>The first port of a fresh block of <see cref="BlockSize"/> ports.</summary>
    public static int Block()
    {
        var block = (int)((uint)Interlocked.Increment(ref _next) % (uint)BlockCount);
        var range = Ranges[block / BlocksPerRange];
        return range.Start + (block % BlocksPerRange * BlockSize);
    }

    private static int EphemeralRangeStart()
    {
        const string path = "/proc/sys/net/ipv4/ip_local_port_range";
        var fields = File.Exists(path) ? File.ReadAllText(path).Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries) : [];
        return fields.Length > 0 ? int.Parse(fields[0], CultureInfo.InvariantCulture) : 32_768;
    }
}
