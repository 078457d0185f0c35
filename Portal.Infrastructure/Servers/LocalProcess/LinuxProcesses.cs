using System.Globalization;
using System.Runtime.InteropServices;

namespace Portal.Infrastructure.Servers.LocalProcess;

/// <summary>What <c>/proc/&lt;pid&gt;/stat</c> says about a process: its state letter, parent, process group and start time.</summary>
internal readonly record struct ProcessStat(char State, int ParentPid, int ProcessGroup, ulong StartTicks)
{
    /// <summary>A zombie (or dead) process has exited; only its parent's wait is missing.</summary>
    public bool HasExited => State is 'Z' or 'X' or 'x';
}

/// <summary>Reads processes from <c>/proc</c> and signals them; Linux only.</summary>
internal static class LinuxProcesses
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>The stat of a process, or null when there is no such process.</summary>
    public static ProcessStat? Stat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return null;
        }
        var fields = text[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[2] field 5 (pgrp), fields[19] field 22
        // (starttime, clock ticks after boot).
        return fields.Length > 19
            && int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent)
            && int.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var group)
            && ulong.TryParse(fields[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var start)
            ? new ProcessStat(fields[0][0], parent, group, start)
            : null;
    }

    /// <summary>The arguments a process was started with (empty when it is gone or a zombie).</summary>
    public static IReadOnlyList<string> CommandLine(int pid)
    {
        try
        {
            var raw = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline");
            return raw.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Whether any process of the group that has not exited is left.</summary>
    public static bool GroupHasLiveMembers(int processGroup) =>
        All().Any(p => p.Stat.ProcessGroup == processGroup && !p.Stat.HasExited);

    /// <summary>The live children, grandchildren and so on of a process, with their start times.</summary>
    public static IReadOnlyList<(int Pid, ProcessStat Stat)> Descendants(int pid)
    {
        var byParent = All().Where(p => !p.Stat.HasExited).ToLookup(p => p.Stat.ParentPid);
        var found = new List<(int Pid, ProcessStat Stat)>();
        var pending = new Queue<int>([pid]);
        while (pending.TryDequeue(out var parent))
        {
            foreach (var child in byParent[parent])
            {
                found.Add(child);
                pending.Enqueue(child.Pid);
            }
        }
        return found;
    }

    /// <summary>Whether the process is still the same one (same start time) and has not exited.</summary>
    public static bool IsAlive(int pid, ulong startTicks) =>
        Stat(pid) is { } stat && stat.StartTicks == startTicks && !stat.HasExited;

    private static IEnumerable<(int Pid, ProcessStat Stat)> All()
    {
        foreach (var directory in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Stat(pid) is { } stat)
            {
                yield return (pid, stat);
            }
        }
    }

    /// <summary>kill(2): a negative <paramref name="pid"/> signals the whole process group. False when nothing was signalled.</summary>
    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
