using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.Slurm;

/// <summary>How a user reaches a server on a compute node: an SSH tunnel through the login host, then a local URL.</summary>
/// <param name="Command">E.g. <c>ssh -N -L 20017:node07:20017 alice@login.example.ac.jp</c>.</param>
/// <param name="LocalUrl">What the browser opens while the tunnel runs: <c>http://localhost:20017/?token=…</c>.</param>
public sealed record SlurmTunnel(string Command, Uri LocalUrl);

/// <summary>
/// Users' servers as Slurm batch jobs, through Slurm's command-line tools (<c>sbatch</c>, <c>squeue</c>,
/// <c>scancel</c>, <c>scontrol</c>; Slurm 22.05): one job per user, named <c>portal-&lt;username&gt;</c> with the
/// comment <c>portal-server:&lt;server id&gt;</c>, running Jupyter on a free port of its node.
/// <see cref="ServerRef.Reference"/> is the job id.
/// </summary>
/// <remarks>
/// <para><b>Start.</b> The user's live jobs (pending, configuring, running, suspended) are looked up by name first: a job
/// with this server's comment is adopted (a retry after a crash between submit and record finds it), any other one is
/// cancelled and waited for, so a user never has two. Otherwise the backend writes a token (0600) and a batch script
/// (<see cref="SlurmBatchScript"/>) into its state directory and submits it with the plan's limits: <c>--cpus-per-task</c>
/// (cores rounded up), <c>--mem</c>, <c>--gres=gpu:N</c> when the plan has GPUs, <c>--time</c> = the configured
/// walltime. Slurm refusing the job (no such resources, partition, account) is <see cref="StartResult.Refused"/>; Slurm
/// not answering throws <see cref="SlurmException"/>, and the job retries.</para>
/// <para><b>Status.</b> Pending: <see cref="ServerStatus.Starting"/> with the queue position and the scheduler's expected
/// start. Running: <see cref="ServerStatus.Running"/> once Jupyter answers <c>GET /api/status</c> on the node and port the
/// job wrote into <c>&lt;username&gt;.endpoint</c>, at <c>http://NODE:PORT/?token=…</c> (the portal must reach the nodes;
/// users reach them through <see cref="Tunnel"/>). Ended or unknown: <see cref="ServerStatus.Stopped"/> with the job's
/// state and exit code while Slurm still knows it (<c>MinJobAge</c>). Not ready within <see cref="StartTimeout"/> of
/// the submission, the wait in the queue included: <see cref="ServerStatus.Failed"/>.</para>
/// <para>Jobs run as the account the portal runs as; the state directory and the homes must be on a file system the
/// nodes share with the portal. The token never appears on a command line: Jupyter reads it from the file named by
/// <c>JUPYTER_TOKEN_FILE</c>, and it is blanked out of the log lines the backend reports.</para>
/// </remarks>
public sealed partial class SlurmBackend : ISpawnerBackend, IDisposable
{
    public const string BackendName = "slurm";

    private const UnixFileMode HomeMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const string CommentPrefix = "portal-server:";
    private const string JobFormat = "%i|%T|%P|%Q|%S|%V|%B|%r|%j|%k";

    /// <summary>The states of a job that holds (or will hold) the user's server.</summary>
    private const string LiveStates = "PENDING,CONFIGURING,RUNNING,SUSPENDED,REQUEUED,RESIZING";

    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(3);

    private static readonly string[] TransientErrors =
    [
        "Unable to contact slurm controller", "Socket timed out", "Zero Bytes were transmitted", "Connection refused",
        "Communication connection failure", "Resource temporarily unavailable", "Slurm backup controller in standby mode",
    ];

    private readonly SlurmOptions _options;
    private readonly SlurmStateFiles _files;
    private readonly SlurmCommands _commands;
    private readonly TimeProvider _clock;
    private readonly ILogger<SlurmBackend> _logger;
    private readonly HttpClient _http;

    public SlurmBackend(IOptions<SlurmOptions> options, TimeProvider clock, ILogger<SlurmBackend> logger)
    {
        _options = options.Value;
        _files = new SlurmStateFiles(_options.StateDirectory);
        _commands = new SlurmCommands(_options);
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
    }

    public string Name => BackendName;

    public TimeSpan StartTimeout => TimeSpan.FromSeconds(_options.StartTimeoutSeconds);

    private TimeSpan StopTimeout => TimeSpan.FromSeconds(_options.StopTimeoutSeconds);

    private TimeSpan PollInterval => TimeSpan.FromMilliseconds(_options.PollIntervalMilliseconds);

    /// <summary>The job name of a user's server: <c>portal-&lt;username&gt;</c>.</summary>
    public static string JobName(Username username) => "portal-" + username.Value;

    /// <summary>The job comment of a server: <c>portal-server:&lt;server id&gt;</c>.</summary>
    public static string JobComment(Guid serverId) => CommentPrefix + serverId.ToString("D");

    public async Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.CudaToolkit is { } toolkit && !ToolkitVersion().IsMatch(toolkit))
        {
            return new StartResult.Refused($"'{toolkit}' is not a CUDA toolkit version.");
        }
        if (spec.CudaProvision is { } provision && !ValidProvision().IsMatch(provision))
        {
            return new StartResult.Refused($"'{provision}' is neither a path nor module:<name>.");
        }
        var username = spec.Username.Value;
        await using var userLock = await _files.LockUserAsync(username, cancellationToken);

        var jobs = await JobsAsync(spec.Username, LiveStates + ",COMPLETING", cancellationToken);
        var comment = JobComment(spec.ServerId);
        var adopted = jobs.Where(j => j.Comment == comment && j.State != "COMPLETING")
            .OrderBy(j => long.Parse(j.Id, CultureInfo.InvariantCulture)).FirstOrDefault();
        var stale = jobs.Where(j => j != adopted).Select(j => j.Id).ToList();
        if (stale.Count > 0)
        {
            // Jobs of another server record of this user, a second job of this one, or one still ending: a user has one
            // server, and the next job starts only when the last has gone.
            LogCancellingStale(_logger, username, string.Join(',', stale));
            await EndJobsAsync(spec.Username, adopted?.Id, cancellationToken);
        }
        if (adopted is not null)
        {
            LogAdopted(_logger, username, adopted.Id, adopted.State);
            var reference = Reference(spec.Username, adopted.Id);
            return adopted.State == "RUNNING" && await ReadyAsync(username, adopted.Id, cancellationToken) is { } ready
                ? new StartResult.Ready(reference, ready.Url)
                : new StartResult.Pending(reference);
        }
        return await SubmitAsync(spec, cancellationToken);
    }

    public async Task StopAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var user = Own(server);
        await using var userLock = await _files.LockUserAsync(user.Value, cancellationToken);
        // Every job of the user's server, whatever the reference says: also one submitted by a start the portal never
        // recorded. (A job id that Slurm has given to someone else's job meanwhile is not touched: jobs go by name.)
        var cancelled = await EndJobsAsync(user, keep: null, cancellationToken);
        _files.Forget(user.Value);
        if (cancelled.Count > 0)
        {
            LogStopped(_logger, user.Value, string.Join(',', cancelled));
        }
    }

    public async Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken) =>
        (await ObserveAsync(server, cancellationToken)).Status;

    public async IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Own(server);
        string? announced = null;
        while (true)
        {
            var observation = await ObserveAsync(server, cancellationToken);
            var progress = observation.Progress;
            if (progress.Ready || progress.Failed)
            {
                yield return progress;
                yield break;
            }
            if (progress.Message != announced)
            {
                announced = progress.Message;
                yield return progress;
            }
            await Task.Delay(PollInterval, _clock, cancellationToken);
        }
    }

    /// <summary>
    /// The SSH tunnel to a server's node through <paramref name="loginHost"/> (optionally via <paramref name="jumpHost"/>),
    /// and the URL to open while it runs; null while the job has not written its endpoint (queued, starting) or for
    /// another job than the reference's.
    /// </summary>
    public SlurmTunnel? Tunnel(ServerRef server, string loginHost, string? jumpHost = null)
    {
        var user = Own(server);
        if (!HostName().IsMatch(loginHost) || (jumpHost is not null && !HostName().IsMatch(jumpHost)))
        {
            throw new ArgumentException("Login and jump hosts are host names.", nameof(loginHost));
        }
        if (!IsJobId(server.Reference) || _files.ReadEndpoint(user.Value, server.Reference) is not { } endpoint
            || _files.ReadToken(user.Value) is not { } token)
        {
            return null;
        }
        var port = endpoint.Port.ToString(CultureInfo.InvariantCulture);
        var jump = jumpHost is null ? "" : $"-J {user.Value}@{jumpHost} ";
        return new SlurmTunnel($"ssh -N {jump}-L {port}:{endpoint.Host}:{port} {user.Value}@{loginHost}",
            new Uri($"http://localhost:{port}/?token={Uri.EscapeDataString(token)}"));
    }

    public void Dispose() => _http.Dispose();

    private async Task<StartResult> SubmitAsync(ServerSpec spec, CancellationToken cancellationToken)
    {
        var username = spec.Username.Value;
        System.IO.Directory.CreateDirectory(_options.HomeRoot);
        var home = Path.GetFullPath(Path.Combine(_options.HomeRoot, username));
        System.IO.Directory.CreateDirectory(home, HomeMode);
        var (cudaHome, cudaModule) = spec.CudaToolkit is { } version
            ? spec.CudaProvision switch
            {
                { } module when module.StartsWith("module:", StringComparison.Ordinal) => ($"/usr/local/cuda-{version}", module["module:".Length..]),
                { } path => (path, (string?)null),
                null => ($"/usr/local/cuda-{version}", null),
            }
            : ((string?)null, (string?)null);

        _files.WriteToken(username, RandomNumberGenerator.GetHexString(64, lowercase: true));
        File.Delete(_files.EndpointPath(username));
        var log = _files.ResetLog(username);
        _files.WriteScript(username, SlurmBatchScript.For(spec, _options, _files, home, cudaHome, cudaModule));

        var cpus = Math.Max(1, (int)Math.Ceiling(spec.Limits.CpuCores));
        var arguments = new List<string>
        {
            "--parsable",
            $"--job-name={JobName(spec.Username)}",
            $"--comment={JobComment(spec.ServerId)}",
            $"--cpus-per-task={cpus.ToString(CultureInfo.InvariantCulture)}",
            $"--mem={(spec.Limits.MemoryGiB * 1024).ToString(CultureInfo.InvariantCulture)}M",
            $"--time={_options.WalltimeMinutes.ToString(CultureInfo.InvariantCulture)}",
            $"--output={log}",
            "--open-mode=append",
            $"--chdir={home}",
            // Only the tools' own clean environment (SlurmCommands) reaches the job.
            "--export=ALL",
        };
        if (spec.Limits.GpuCount > 0)
        {
            arguments.Add($"--gres=gpu:{spec.Limits.GpuCount.ToString(CultureInfo.InvariantCulture)}");
        }
        if (_options.Partition is { Length: > 0 } partition)
        {
            arguments.Add($"--partition={partition}");
        }
        if (_options.Account is { Length: > 0 } account)
        {
            arguments.Add($"--account={account}");
        }
        arguments.Add(_files.ScriptPath(username));

        var result = await _commands.RunAsync("sbatch", arguments, cancellationToken);
        if (!result.Succeeded)
        {
            var reason = SbatchError(result);
            if (TransientErrors.Any(e => reason.Contains(e, StringComparison.OrdinalIgnoreCase)))
            {
                throw new SlurmException($"sbatch failed: {reason}");
            }
            _files.Forget(username);
            LogRefused(_logger, username, reason);
            return new StartResult.Refused($"Slurm refused the job: {reason}");
        }
        var jobId = result.Output.Trim().Split(';')[0];
        if (!IsJobId(jobId))
        {
            throw new SlurmException($"sbatch printed no job id: '{result.Output.Trim()}'.");
        }
        LogSubmitted(_logger, username, jobId, cpus, spec.Limits.MemoryGiB, spec.Limits.GpuCount, spec.CudaToolkit ?? "none");
        return new StartResult.Pending(Reference(spec.Username, jobId));
    }

    /// <summary>What sbatch said, without its <c>sbatch: error:</c> prefixes, on one line.</summary>
    private static string SbatchError(SlurmCommandResult result)
    {
        var lines = (result.Error + "\n" + result.Output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.StartsWith("sbatch: error: ", StringComparison.Ordinal) ? l["sbatch: error: ".Length..] : l)
            .Select(l => l.StartsWith("Batch job submission failed: ", StringComparison.Ordinal) ? l["Batch job submission failed: ".Length..] : l)
            .ToList();
        var text = lines.Count == 0 ? $"sbatch exited with code {result.ExitCode.ToString(CultureInfo.InvariantCulture)}" : string.Join("; ", lines);
        return text.Length > 500 ? text[..500] : text;
    }

    /// <summary>What the server is now, as a status and as a progress step.</summary>
    private async Task<Observation> ObserveAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var user = Own(server);
        var job = IsJobId(server.Reference)
            ? await JobAsync(server.Reference, cancellationToken)
            // A reference without a job id (a stop before the start was recorded): the user's live job, if any.
            : (await JobsAsync(user, LiveStates, cancellationToken)).FirstOrDefault();
        if (job is null || job.Name != JobName(user))
        {
            var reason = IsJobId(server.Reference)
                ? $"Slurm job {server.Reference} is no longer known."
                : "No Slurm job is running for this server.";
            return Gone(reason, user.Value);
        }
        if (job.Ended)
        {
            return Gone(await EndReasonAsync(job, cancellationToken), user.Value);
        }
        if (job.State == "COMPLETING")
        {
            return new Observation(new ServerStatus.Stopping(), new ProgressEvent(90, $"Slurm job {job.Id} is ending."));
        }
        if (job.State == "RUNNING" && await ReadyAsync(user.Value, job.Id, cancellationToken) is { } ready)
        {
            return new Observation(new ServerStatus.Running(ready.Url, ready.LastActivity),
                new ProgressEvent(100, $"Jupyter is ready on {ready.Endpoint.Host}:{ready.Endpoint.Port.ToString(CultureInfo.InvariantCulture)} (Slurm job {job.Id}).",
                    Ready: true, Url: ready.Url));
        }
        if (job.SubmitTime is { } submitted && _clock.GetUtcNow() - submitted > StartTimeout)
        {
            var reason = $"Slurm job {job.Id} was not ready within {_options.StartTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s "
                + (job.State == "RUNNING" ? $"(running on {job.Node}, Jupyter did not answer)." : $"({job.State}, reason {job.Reason}).");
            return new Observation(new ServerStatus.Failed(reason), new ProgressEvent(100, reason, Failed: true));
        }
        if (job.State == "RUNNING")
        {
            var message = $"Running on {job.Node} (Slurm job {job.Id}); waiting for Jupyter.";
            return new Observation(new ServerStatus.Starting(60, message), new ProgressEvent(60, message));
        }
        var position = await QueuePositionAsync(job, cancellationToken);
        var queued = QueuedMessage(job, position);
        var percent = Math.Max(10, 30 - (5 * (position - 1)));
        return new Observation(new ServerStatus.Starting(percent, queued), new ProgressEvent(percent, queued));
    }

    private Observation Gone(string reason, string username)
    {
        var tail = _files.LogTail(username, _files.ReadToken(username));
        return new Observation(new ServerStatus.Stopped(reason), new ProgressEvent(100, tail.Length == 0 ? reason : $"{reason}\n{tail}", Failed: true));
    }

    private static string QueuedMessage(SlurmJob job, int position)
    {
        var state = job.State == "PENDING" ? "Queued" : $"{job.State[..1]}{job.State[1..].ToLowerInvariant()}";
        var start = job.StartTime is { } expected
            ? $"expected start {expected.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}"
            : "expected start not known yet";
        var reason = job.Reason is { Length: > 0 } r && r != "None" ? $", waiting for {r}" : "";
        return $"{state} in partition {job.Partition}, position {position.ToString(CultureInfo.InvariantCulture)}, {start} (Slurm job {job.Id}{reason}).";
    }

    /// <summary>1 + the pending jobs of the partition that the scheduler looks at first (higher priority, then older).</summary>
    private async Task<int> QueuePositionAsync(SlurmJob job, CancellationToken cancellationToken)
    {
        if (job.State != "PENDING")
        {
            return 1;
        }
        var result = await _commands.RunAsync("squeue", ["-h", "-t", "PENDING", "-p", job.Partition, "-o", "%i|%Q"], cancellationToken);
        if (!result.Succeeded)
        {
            return 1;
        }
        var id = long.Parse(job.Id, CultureInfo.InvariantCulture);
        var ahead = 0;
        foreach (var line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split('|');
            if (parts.Length == 2
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var other)
                && decimal.TryParse(parts[1], NumberStyles.Number, CultureInfo.InvariantCulture, out var priority)
                && other != id
                && (priority > job.Priority || (priority == job.Priority && other < id)))
            {
                ahead++;
            }
        }
        return ahead + 1;
    }

    /// <summary>Why an ended job ended: its state, exit code or signal and Slurm's reason (from <c>scontrol</c>, while it knows the job).</summary>
    private async Task<string> EndReasonAsync(SlurmJob job, CancellationToken cancellationToken)
    {
        var details = new List<string>();
        var result = await _commands.RunAsync("scontrol", ["-o", "show", "job", job.Id], cancellationToken);
        if (result.Succeeded && ExitCode().Match(result.Output) is { Success: true } exit)
        {
            var signal = exit.Groups["signal"].Value;
            details.Add(signal != "0" ? $"signal {signal}" : $"exit code {exit.Groups["code"].Value}");
        }
        if (job.Reason is { Length: > 0 } reason && reason != "None")
        {
            details.Add(reason);
        }
        var suffix = details.Count == 0 ? "" : $" ({string.Join(", ", details)})";
        return $"Slurm job {job.Id} ended: {job.State}{suffix}.";
    }

    /// <summary>Jupyter's URL and activity when the job's endpoint is written and <c>/api/status</c> answers 200 there.</summary>
    private async Task<ReadyServer?> ReadyAsync(string username, string jobId, CancellationToken cancellationToken)
    {
        if (_files.ReadEndpoint(username, jobId) is not { } endpoint || _files.ReadToken(username) is not { } token)
        {
            return null;
        }
        var root = new Uri($"http://{endpoint.Host}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}/");
        return await JupyterStatusProbe.AskAsync(_http, root, token, cancellationToken) is { } status
            ? new ReadyServer(endpoint, new Uri(root, $"?token={Uri.EscapeDataString(token)}"), status.LastActivity)
            : null;
    }

    /// <summary>The user's jobs (of the portal's account) named after the user, in the given states.</summary>
    private async Task<IReadOnlyList<SlurmJob>> JobsAsync(Username user, string states, CancellationToken cancellationToken)
    {
        var result = await _commands.RunAsync("squeue", ["-h", "--me", $"--name={JobName(user)}", "-t", states, "-o", JobFormat], cancellationToken);
        if (!result.Succeeded)
        {
            throw new SlurmException($"squeue failed: {result.Message}");
        }
        return [.. ParseJobs(result.Output).Where(j => j.Name == JobName(user))];
    }

    /// <summary>One job in any state while Slurm knows it (<c>MinJobAge</c> after it ended); null for an unknown id.</summary>
    private async Task<SlurmJob?> JobAsync(string jobId, CancellationToken cancellationToken)
    {
        var result = await _commands.RunAsync("squeue", ["-h", "-t", "all", "-j", jobId, "-o", JobFormat], cancellationToken);
        if (!result.Succeeded)
        {
            return result.Error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase)
                ? null
                : throw new SlurmException($"squeue failed: {result.Message}");
        }
        return ParseJobs(result.Output).FirstOrDefault(j => j.Id == jobId);
    }

    /// <summary>
    /// Cancels every job of the user's server but <paramref name="keep"/> and waits until Slurm lists none of them, not
    /// even as completing (bounded by the stop timeout). Returns the ids it cancelled.
    /// </summary>
    private async Task<IReadOnlyCollection<string>> EndJobsAsync(Username user, string? keep, CancellationToken cancellationToken)
    {
        var deadline = _clock.GetUtcNow() + StopTimeout;
        var cancelled = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var left = (await JobsAsync(user, LiveStates + ",COMPLETING", cancellationToken)).Where(j => j.Id != keep).ToList();
            if (left.Count == 0)
            {
                return cancelled;
            }
            var uncancelled = left.Where(j => j.State != "COMPLETING" && cancelled.Add(j.Id)).Select(j => j.Id).ToList();
            if (uncancelled.Count > 0)
            {
                await CancelAsync(uncancelled, cancellationToken);
            }
            if (_clock.GetUtcNow() >= deadline)
            {
                throw new TimeoutException(
                    $"Slurm still lists job(s) {string.Join(", ", left.Select(j => $"{j.Id} ({j.State})"))} of {user} "
                    + $"{_options.StopTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s after scancel.");
            }
            await Task.Delay(PollInterval, _clock, cancellationToken);
        }
    }

    /// <summary>scancel; a job that has ended meanwhile is no error (whether they are gone is checked with squeue).</summary>
    private async Task CancelAsync(IReadOnlyCollection<string> jobIds, CancellationToken cancellationToken)
    {
        var result = await _commands.RunAsync("scancel", jobIds, cancellationToken);
        if (!result.Succeeded && TransientErrors.Any(e => result.Error.Contains(e, StringComparison.OrdinalIgnoreCase)))
        {
            throw new SlurmException($"scancel failed: {result.Message}");
        }
    }

    private IEnumerable<SlurmJob> ParseJobs(string output)
    {
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // The comment is last: it is the one field that may hold the separator.
            var fields = line.Split('|', 10);
            if (fields.Length == 10 && IsJobId(fields[0]))
            {
                yield return new SlurmJob(
                    fields[0],
                    fields[1],
                    fields[2],
                    decimal.TryParse(fields[3], NumberStyles.Number, CultureInfo.InvariantCulture, out var priority) ? priority : 0,
                    Time(fields[4]),
                    Time(fields[5]),
                    fields[6] is { Length: > 0 } node && node != "n/a" && node != "(null)" ? node : null,
                    fields[7],
                    fields[8],
                    fields[9]);
            }
        }
    }

    /// <summary>A time as the tools print it with <c>SLURM_TIME_FORMAT=standard</c> (the cluster's local time); null for N/A.</summary>
    private DateTimeOffset? Time(string value)
    {
        if (!DateTime.TryParseExact(value, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return null;
        }
        var zone = _clock.LocalTimeZone;
        return new DateTimeOffset(local, zone.GetUtcOffset(local));
    }

    private ServerRef Reference(Username user, string jobId) => new(Name, user, jobId);

    private Username Own(ServerRef server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.Backend == Name
            ? server.Username
            : throw new ArgumentException($"The server belongs to the backend '{server.Backend}', not '{Name}'.", nameof(server));
    }

    private static bool IsJobId(string value) => JobId().IsMatch(value);

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ToolkitVersion();

    [GeneratedRegex(@"^(/[A-Za-z0-9._+-]+)+/?\z|^module:[A-Za-z0-9._+/-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex ValidProvision();

    [GeneratedRegex(@"^[0-9]{1,18}\z", RegexOptions.CultureInvariant)]
    private static partial Regex JobId();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostName();

    [GeneratedRegex(@"\bExitCode=(?<code>[0-9]+):(?<signal>[0-9]+)", RegexOptions.CultureInvariant)]
    private static partial Regex ExitCode();

    [LoggerMessage(Level = LogLevel.Information, Message = "Submitted Slurm job {JobId} for {Username} ({Cpus} CPUs, {MemoryGiB} GiB, {Gpus} GPUs, CUDA {Toolkit})")]
    private static partial void LogSubmitted(ILogger logger, string username, string jobId, int cpus, int memoryGiB, int gpus, string toolkit);

    [LoggerMessage(Level = LogLevel.Information, Message = "Adopted the Slurm job {JobId} ({State}) of {Username}")]
    private static partial void LogAdopted(ILogger logger, string username, string jobId, string state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ending Slurm job(s) {JobIds} of {Username} before its server starts: not of this server, or still ending")]
    private static partial void LogCancellingStale(ILogger logger, string username, string jobIds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slurm refused the job of {Username}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string username, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cancelled the Slurm job(s) {JobIds} of {Username}")]
    private static partial void LogStopped(ILogger logger, string username, string jobIds);

    /// <summary>One line of <c>squeue -o <see cref="JobFormat"/></c>.</summary>
    private sealed record SlurmJob(
        string Id,
        string State,
        string Partition,
        decimal Priority,
        DateTimeOffset? StartTime,
        DateTimeOffset? SubmitTime,
        string? Node,
        string Reason,
        string Name,
        string Comment)
    {
        /// <summary>Over: completed, cancelled, failed, timed out, out of memory, node failure, preempted and the like.</summary>
        public bool Ended => State is not ("PENDING" or "CONFIGURING" or "RUNNING" or "SUSPENDED" or "REQUEUED" or "RESIZING"
            or "COMPLETING" or "REQUEUE_HOLD" or "REQUEUE_FED" or "SIGNALING" or "STAGE_OUT" or "STOPPED" or "RESV_DEL_HOLD" or "SPECIAL_EXIT");
    }

    private sealed record ReadyServer(SlurmEndpoint Endpoint, Uri Url, DateTimeOffset? LastActivity);

    private sealed record Observation(ServerStatus Status, ProgressEvent Progress);
}
