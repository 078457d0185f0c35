namespace Portal.Domain.Servers;

/// <summary>Picks free GPUs for a server. The database's key on the GPU index is what finally guarantees exclusivity.</summary>
public static class GpuAllocator
{
    /// <summary>
    /// <paramref name="count"/> GPUs of <paramref name="model"/> (any model when null) that are not in
    /// <paramref name="taken"/>, lowest index first; null when there are not enough.
    /// </summary>
    public static IReadOnlyList<GpuDevice>? Pick(IReadOnlyList<GpuDevice> inventory, IReadOnlySet<int> taken, int count, string? model)
    {
        if (count <= 0)
        {
            return [];
        }
        var free = inventory
            .Where(g => !taken.Contains(g.Index) && (model is null || string.Equals(g.Model, model, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(g => g.Index).Take(count).ToList();
        return free.Count == count ? free : null;
    }

    /// <summary>Reads <c>nvidia-smi --query-gpu=index,uuid,name,memory.total,driver_version --format=csv,noheader</c>.</summary>
    public static IReadOnlyList<GpuDevice> ParseNvidiaSmi(string output)
    {
        var devices = new List<GpuDevice>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(',', StringSplitOptions.TrimEntries);
            if (fields.Length < 5 || !int.TryParse(fields[0], System.Globalization.CultureInfo.InvariantCulture, out var index))
            {
                throw new FormatException($"Unexpected nvidia-smi line: {line}");
            }
            var memory = fields[3].Split(' ')[0];
            devices.Add(new GpuDevice(index, fields[1], fields[2],
                int.TryParse(memory, System.Globalization.CultureInfo.InvariantCulture, out var mib) ? mib : 0, fields[4]));
        }
        return devices;
    }
}
