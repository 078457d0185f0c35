using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.LocalProcess;

/// <summary>
/// The embedded default backend: one <c>jupyter-notebook</c> process per user on this machine, on a port of its own,
/// in its own session (so a stop reaches its children), detached from the portal (it outlives a portal restart).
/// </summary>
/// <remarks>
/// <para>The state file of a user (<see cref="LocalServerStore"/>) is the truth: a server is found by username, so a
/// restarted portal re-attaches to it, and <see cref="ServerRef.Reference"/> (<c>pid:port</c>) is only informative.
/// A process counts as the user's server only while its pid, its start time in <c>/proc</c> and its command line all
/// match the state file: a reused pid is never signalled.</para>
/// <para><see cref="StartAsync"/> answers <see cref="StartResult.Pending"/> as soon as the process runs (or
/// <see cref="StartResult.Ready"/> when it already answers); readiness is <c>GET /api/status</c> answering 200, which
/// <see cref="ProgressAsync"/> and <see cref="PollAsync"/> follow.</para>
/// <para>The token never appears on a command line or in a log: Jupyter reads it from a 0600 file named by
/// <c>JUPYTER_TOKEN_FILE</c>, the backend sends it in an <c>Authorization</c> header, and it is blanked out of the log
/// lines it reports.</para>
/// </remarks>
public sealed partial class LocalProcessBackend : ISpawnerBackend, IDisposable
{
    private const UnixFileMode HomeMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const string StandardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ExitCheckInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ReapWait = TimeSpan.FromSeconds(2);

    private readonly LocalProcessOptions _options;
    private readonly LocalServerStore _store;
    private readonly TimeProvider _clock;
    private readonly ILogger<LocalProcessBackend> _logger;
    private readonly HttpClient _http;

    /// <summary>The processes this instance started, by pid: only they can tell their exit code.</summary>
    private readonly ConcurrentDictionary<int, Process> _children = new();

    public LocalProcessBackend(IOptions<LocalProcessOptions> options, TimeProvider clock, ILogger<LocalProcessBackend> logger)
    {
        _options = options.Value;
        _store = new LocalServerStore(_options.StateDirectory);
        _clock = clock;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectTimeout = StatusTimeout,
        })
        {
            Timeout = StatusTimeout,
        };
        if (EphemeralPortRange() is var (low, high) && _options.PortRangeStart <= high && _options.PortRangeEnd >= low)
        {
            // Any outgoing connection on this machine may take such a port between the check that it is free and
            // Jupyter's bind, and the start then fails with "port already in use".
            LogEphemeralOverlap(_logger, _options.PortRangeStart, _options.PortRangeEnd, low, high);
        }
    }

    public string Name => "local";

    public TimeSpan StartTimeout => TimeSpan.FromSeconds(_options.StartTimeoutSeconds);

    private TimeSpan StopTimeout => TimeSpan.FromSeconds(_options.StopTimeoutSeconds);

    public async Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.CudaToolkit is { } toolkit && !ToolkitVersion().IsMatch(toolkit))
        {
            return new StartResult.Refused($"'{toolkit}' is not a CUDA toolkit version.");
        }
        if (!File.Exists(_options.JupyterCommand))
        {
            return new StartResult.Refused($"Jupyter is not installed here ({_options.JupyterCommand} not found).");
        }
        var username = spec.Username.Value;
        await using var userLock = await _store.LockUserAsync(username, cancellationToken);

        if (_store.Read(username) is { } existing)
        {
            if (Inspect(existing) == Liveness.Alive)
            {
                var reference = Reference(existing);
                if (await StatusAsync(existing, cancellationToken) is not null)
                {
                    return new StartResult.Ready(reference, UserUrl(existing));
                }
                if (!TimedOut(existing))
                {
                    return new StartResult.Pending(reference);
                }
                LogReplacingUnresponsive(_logger, username, existing.Pid, existing.Port);
            }
            // Gone, hung or someone else's pid now: clear it away and start afresh.
            await StopCoreAsync(existing, cancellationToken);
        }

        await using var portsLock = await _store.LockPortsAsync(cancellationToken);
        if (AllocatePort(username) is not { } port)
        {
            return new StartResult.Refused(
                $"No free port between {_options.PortRangeStart} and {_options.PortRangeEnd} for another Jupyter server.");
        }
        var state = Spawn(spec, port);
        return new StartResult.Pending(Reference(state));
    }

    public async Task StopAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var username = Own(server);
        await using var userLock = await _store.LockUserAsync(username, cancellationToken);
        if (_store.Read(username) is { } state)
        {
            await StopCoreAsync(state, cancellationToken);
        }
        else
        {
            _store.Remove(username);
        }
    }

    public async Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var username = Own(server);
        if (_store.Read(username) is not { } state)
        {
            return new ServerStatus.Stopped("No server is running.");
        }
        if (Inspect(state) != Liveness.Alive)
        {
            return new ServerStatus.Stopped(await GoneReasonAsync(state, cancellationToken));
        }
        if (await StatusAsync(state, cancellationToken) is { } status)
        {
            return new ServerStatus.Running(UserUrl(state), status.LastActivity);
        }
        return TimedOut(state)
            ? new ServerStatus.Failed(NotAnsweringReason(state))
            : new ServerStatus.Starting(10, "Waiting for Jupyter to answer.");
    }

    public async IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var username = Own(server);
        var announced = false;
        while (true)
        {
            if (_store.Read(username) is not { } state)
            {
                yield return new ProgressEvent(100, "The server was stopped.", Failed: true);
                yield break;
            }
            if (Inspect(state) != Liveness.Alive)
            {
                yield return new ProgressEvent(100, await FailureMessageAsync(state, cancellationToken), Failed: true);
                yield break;
            }
            if (await StatusAsync(state, cancellationToken) is not null)
            {
                yield return new ProgressEvent(100, "Jupyter is ready.", Ready: true, Url: UserUrl(state));
                yield break;
            }
            if (TimedOut(state))
            {
                yield return new ProgressEvent(100, NotAnsweringReason(state), Failed: true);
                yield break;
            }
            if (!announced)
            {
                announced = true;
                yield return new ProgressEvent(10, "Process started; waiting for Jupyter to answer.");
            }
            await Task.Delay(ProgressInterval, _clock, cancellationToken);
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        foreach (var process in _children.Values)
        {
            process.Dispose();
        }
        _children.Clear();
    }

    /// <summary>Starts the process (the caller holds the user's and the ports' locks) and writes its state file.</summary>
    private LocalServerState Spawn(ServerSpec spec, int port)
    {
        var username = spec.Username.Value;
        System.IO.Directory.CreateDirectory(_options.HomeRoot);
        var home = Path.GetFullPath(Path.Combine(_options.HomeRoot, username));
        System.IO.Directory.CreateDirectory(home, HomeMode);
        var token = RandomNumberGenerator.GetHexString(64, lowercase: true);
        _store.WriteToken(username, token);
        var log = _store.ResetLog(username);

        // sh applies the redirections and execs setsid, which makes the same pid a session and group leader and execs
        // Jupyter: one pid throughout, no pipe to the portal, and the process lives on when the portal exits.
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = home,
        };
        foreach (var argument in (string[])["-c", "log=$1; shift; exec /usr/bin/setsid \"$@\" >>\"$log\" 2>&1 </dev/null", "sh", log,
            _options.JupyterCommand, "--no-browser", "--ip=127.0.0.1", $"--port={port.ToString(CultureInfo.InvariantCulture)}",
            "--NotebookApp.port_retries=0", "--NotebookApp.base_url=/", $"--notebook-dir={home}", "--allow-root"])
        {
            start.ArgumentList.Add(argument);
        }
        // Only what the server needs: nothing of the portal's own environment (connection strings, passwords) leaks in.
        start.Environment.Clear();
        var toolkitHome = spec.CudaToolkit is { } version ? $"/usr/local/cuda-{version}" : null;
        start.Environment["PATH"] = toolkitHome is null ? StandardPath : $"{toolkitHome}/bin:{StandardPath}";
        start.Environment["HOME"] = home;
        start.Environment["SHELL"] = "/bin/bash";
        start.Environment["LANG"] = "C.UTF-8";
        start.Environment["PYTHONUNBUFFERED"] = "1";
        start.Environment["CUDA_VISIBLE_DEVICES"] = string.Join(',', spec.Gpus.Select(g => g.Index.ToString(CultureInfo.InvariantCulture)));
        if (toolkitHome is not null)
        {
            start.Environment["CUDA_VERSION"] = spec.CudaToolkit;
            start.Environment["CUDA_HOME"] = toolkitHome;
            start.Environment["LD_LIBRARY_PATH"] = $"{toolkitHome}/lib64";
        }
        start.Environment["JUPYTER_RUNTIME_DIR"] = _store.RuntimeDirectory(username);
        start.Environment["JUPYTER_TOKEN_FILE"] = _store.TokenPath(username);

        var process = Process.Start(start) ?? throw new InvalidOperationException("The Jupyter process did not start.");
        _children[process.Id] = process;
        // Zero when it is already gone: then it never counts as alive, and the exit code tells why.
        var startTicks = LinuxProcesses.Stat(process.Id)?.StartTicks ?? 0;
        var state = new LocalServerState(username, spec.ServerId, process.Id, port, token, _clock.GetUtcNow(), startTicks,
            spec.CudaToolkit, [.. spec.Gpus.Select(g => g.Index)]);
        try
        {
            _store.Write(state);
        }
        catch
        {
            LinuxProcesses.Signal(process.Id, LinuxProcesses.SigKill);
            throw;
        }
        LogStarted(_logger, username, process.Id, port, spec.CudaToolkit ?? "none", start.Environment["CUDA_VISIBLE_DEVICES"] ?? "");
        return state;
    }

    /// <summary>Ends the server of a state file if it is still ours, waits for its group to go, and forgets it.</summary>
    private async Task StopCoreAsync(LocalServerState state, CancellationToken cancellationToken)
    {
        var pid = state.Pid;
        var liveness = Inspect(state);
        switch (liveness)
        {
            case Liveness.Alive:
                // Kernels run in sessions of their own: Jupyter ends them on SIGTERM, and any it leaves are ended below.
                var descendants = LinuxProcesses.Descendants(pid);
                // Before setsid has run (a few milliseconds after the start) the pid is not yet a group leader.
                var group = LinuxProcesses.Stat(pid) is { } stat && stat.ProcessGroup == pid;
                var target = group ? -pid : pid;
                LinuxProcesses.Signal(target, LinuxProcesses.SigTerm);
                if (!await WaitGoneAsync(state, group, StopTimeout, cancellationToken))
                {
                    LogKilling(_logger, state.Username, pid, _options.StopTimeoutSeconds);
                    LinuxProcesses.Signal(target, LinuxProcesses.SigKill);
                    if (!await WaitGoneAsync(state, group, KillWait, cancellationToken))
                    {
                        throw new InvalidOperationException($"The Jupyter process {pid} of {state.Username} did not exit after SIGKILL.");
                    }
                }
                await EndLeftoversAsync(state, descendants, cancellationToken);
                LogStopped(_logger, state.Username, pid);
                break;
            case Liveness.Gone:
                // The leader is gone; what is left of its group (nobody else can own a group id while members remain) goes too.
                if (state.ProcessStartTicks != 0 && LinuxProcesses.GroupHasLiveMembers(pid))
                {
                    LinuxProcesses.Signal(-pid, LinuxProcesses.SigKill);
                    await WaitGoneAsync(state, group: true, KillWait, cancellationToken);
                }
                break;
            case Liveness.Foreign:
                // The pid belongs to another process now: nothing of ours is left to signal.
                break;
            default:
                throw new InvalidOperationException($"Unknown liveness {liveness}.");
        }
        _store.Remove(state.Username);
        if (_children.TryRemove(pid, out var process))
        {
            process.Dispose();
        }
    }

    /// <summary>SIGKILLs what a stopped server left of its descendants (with their own groups), checked by start time.</summary>
    private async Task EndLeftoversAsync(LocalServerState state, IReadOnlyList<(int Pid, ProcessStat Stat)> descendants,
        CancellationToken cancellationToken)
    {
        var left = descendants.Where(d => LinuxProcesses.IsAlive(d.Pid, d.Stat.StartTicks)).ToList();
        if (left.Count == 0)
        {
            return;
        }
        LogKillingLeftovers(_logger, state.Username, state.Pid, left.Count);
        foreach (var (pid, stat) in left)
        {
            LinuxProcesses.Signal(stat.ProcessGroup == pid ? -pid : pid, LinuxProcesses.SigKill);
        }
        var deadline = _clock.GetUtcNow() + KillWait;
        while (left.Any(d => LinuxProcesses.IsAlive(d.Pid, d.Stat.StartTicks)) && _clock.GetUtcNow() < deadline)
        {
            await Task.Delay(ExitCheckInterval, _clock, cancellationToken);
        }
    }

    private async Task<bool> WaitGoneAsync(LocalServerState state, bool group, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _clock.GetUtcNow() + timeout;
        while (Inspect(state) == Liveness.Alive || (group && LinuxProcesses.GroupHasLiveMembers(state.Pid)))
        {
            if (_clock.GetUtcNow() >= deadline)
            {
                return false;
            }
            await Task.Delay(ExitCheckInterval, _clock, cancellationToken);
        }
        return true;
    }

    /// <summary>A port of the range that no live server of another user holds and that nothing listens on.</summary>
    private int? AllocatePort(string username)
    {
        var taken = _store.ReadAll()
            .Where(s => s.Username != username && Inspect(s) == Liveness.Alive)
            .Select(s => s.Port)
            .ToHashSet();
        for (var port = _options.PortRangeStart; port <= _options.PortRangeEnd; port++)
        {
            if (!taken.Contains(port) && IsFree(port))
            {
                return port;
            }
        }
        return null;
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            socket.Listen();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private Liveness Inspect(LocalServerState state)
    {
        if (state.ProcessStartTicks == 0 || LinuxProcesses.Stat(state.Pid) is not { } stat)
        {
            return Liveness.Gone;
        }
        if (stat.StartTicks != state.ProcessStartTicks)
        {
            return Liveness.Foreign;
        }
        if (stat.HasExited)
        {
            return Liveness.Gone;
        }
        // Through sh and setsid to Jupyter the command line keeps naming the command and the port. It reads empty for a
        // moment while the process execs; the start time has already matched, so that does not make it someone else's.
        var commandLine = LinuxProcesses.CommandLine(state.Pid);
        var portArgument = $"--port={state.Port.ToString(CultureInfo.InvariantCulture)}";
        return commandLine.Count == 0
            || (commandLine.Contains(_options.JupyterCommand, StringComparer.Ordinal) && commandLine.Contains(portArgument, StringComparer.Ordinal))
            ? Liveness.Alive
            : Liveness.Foreign;
    }

    /// <summary><c>/api/status</c> of the server when it answers 200 (it does not count as activity), else null.</summary>
    private Task<JupyterStatus?> StatusAsync(LocalServerState state, CancellationToken cancellationToken) =>
        JupyterStatusProbe.AskAsync(_http, new Uri($"http://127.0.0.1:{state.Port.ToString(CultureInfo.InvariantCulture)}/"), state.Token, cancellationToken);

    private bool TimedOut(LocalServerState state) => _clock.GetUtcNow() - state.StartedAt > StartTimeout;

    private ServerRef Reference(LocalServerState state) =>
        new(Name, Username.Parse(state.Username), $"{state.Pid.ToString(CultureInfo.InvariantCulture)}:{state.Port.ToString(CultureInfo.InvariantCulture)}");

    private Uri UserUrl(LocalServerState state) =>
        new($"http://{_options.BaseUrlHost}:{state.Port.ToString(CultureInfo.InvariantCulture)}/?token={Uri.EscapeDataString(state.Token)}");

    /// <summary>Why a server that is gone went: its exit code when this instance started it, else that it is not there.</summary>
    private async Task<string> GoneReasonAsync(LocalServerState state, CancellationToken cancellationToken)
    {
        if (_children.TryGetValue(state.Pid, out var process))
        {
            // It has exited (a zombie, or reaped); the runtime records the exit code when it reaps, a moment later.
            using var reaped = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            reaped.CancelAfter(ReapWait);
            try
            {
                await process.WaitForExitAsync(reaped.Token);
                return $"Jupyter exited with code {process.ExitCode.ToString(CultureInfo.InvariantCulture)}.";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
        }
        return $"Jupyter process {state.Pid.ToString(CultureInfo.InvariantCulture)} not found.";
    }

    private async Task<string> FailureMessageAsync(LocalServerState state, CancellationToken cancellationToken)
    {
        var reason = await GoneReasonAsync(state, cancellationToken);
        var tail = _store.LogTail(state.Username, state.Token);
        return tail.Length == 0 ? reason : $"{reason}\n{tail}";
    }

    private string NotAnsweringReason(LocalServerState state) =>
        $"Jupyter (process {state.Pid.ToString(CultureInfo.InvariantCulture)}) did not answer on port "
        + $"{state.Port.ToString(CultureInfo.InvariantCulture)} within {_options.StartTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s.";

    private string Own(ServerRef server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.Backend == Name
            ? server.Username.Value
            : throw new ArgumentException($"The server belongs to the backend '{server.Backend}', not '{Name}'.", nameof(server));
    }

    /// <summary>The kernel's range for outgoing connections' local ports, when it can be read.</summary>
    private static (int Low, int High)? EphemeralPortRange()
    {
        try
        {
            var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return fields.Length == 2 ? (int.Parse(fields[0], CultureInfo.InvariantCulture), int.Parse(fields[1], CultureInfo.InvariantCulture)) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "LocalProcess ports {Start}-{End} overlap the kernel's ephemeral port range {Low}-{High}: starts can fail with 'port already in use'; choose ports below {Low}")]
    private static partial void LogEphemeralOverlap(ILogger logger, int start, int end, int low, int high);

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ToolkitVersion();

    [LoggerMessage(Level = LogLevel.Information, Message = "Started Jupyter for {Username} as process {Pid} on port {Port} (CUDA {Toolkit}, GPUs '{Gpus}')")]
    private static partial void LogStarted(ILogger logger, string username, int pid, int port, string toolkit, string gpus);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped the Jupyter process {Pid} of {Username}")]
    private static partial void LogStopped(ILogger logger, string username, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Jupyter process {Pid} of {Username} ignored SIGTERM for {Seconds} s; sending SIGKILL")]
    private static partial void LogKilling(ILogger logger, string username, int pid, int seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The stopped Jupyter process {Pid} of {Username} left {Count} processes behind; killing them")]
    private static partial void LogKillingLeftovers(ILogger logger, string username, int pid, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Jupyter process {Pid} of {Username} never answered on port {Port}; replacing it")]
    private static partial void LogReplacingUnresponsive(ILogger logger, string username, int pid, int port);

    private enum Liveness
    {
        /// <summary>The process of the state file runs.</summary>
        Alive,

        /// <summary>No such process, or it has exited.</summary>
        Gone,

        /// <summary>The pid now belongs to a different process.</summary>
        Foreign,
    }

}
