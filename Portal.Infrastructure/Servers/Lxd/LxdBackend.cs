using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.Lxd;

/// <summary>
/// One LXD system container per user (<see cref="InstanceName"/>: <c>portal-&lt;username&gt;</c>), through LXD's REST
/// API over its unix socket (<see cref="LxdClient"/>). <see cref="ServerRef.Reference"/> is the instance name.
/// </summary>
/// <remarks>
/// <para><b>What an instance is.</b> A container from the toolkit's image (<see cref="ImageFor"/>) with the config
/// <c>limits.cpu</c>, <c>limits.memory</c> (the quota), <c>environment.*</c> (the server's environment:
/// <c>CUDA_VISIBLE_DEVICES</c>, <c>JUPYTER_TOKEN</c>, <c>PORTAL_USER</c>) and <c>user.portal.*</c> (server id, user,
/// image: how the backend knows its own), and the devices <c>web</c> (a proxy from a host port of the range to the
/// server's port on the container's 127.0.0.1; no network is needed), <c>home</c> (the user's folder) and, with
/// <see cref="LxdOptions.AttachGpus"/>, one <c>gpu</c> per assigned GPU. The whole request is
/// <see cref="InstanceRequest"/>.</para>
/// <para><b>Start</b> creates the instance and starts it, each an LXD operation waited for (creating includes
/// unpacking the image, so large images count against <see cref="StartTimeout"/>), and answers
/// <see cref="StartResult.Pending"/>; readiness is <c>GET /api/status</c> through the proxy answering 200, which
/// <see cref="ProgressAsync"/> and <see cref="PollAsync"/> follow. An instance that is already there with this
/// server's id and image is adopted (running: Ready or Pending; stopped: started), so a retry after a crash never
/// makes a second one. One with another server id or image (an earlier server, another toolkit) is replaced. One
/// that the portal did not make (no <c>user.portal.user</c> of this user) is never touched: the start is refused.</para>
/// <para><b>Stop</b> stops the instance (forced) and deletes it, after any create or start in flight has ended.</para>
/// <para><b>Failures of LXD itself</b> (no socket, an error answer, an operation that fails or does not end) throw
/// <see cref="LxdException"/>: the jobs retry. A start LXD cannot do for this server (no such image, no free port,
/// the container does not start) is <see cref="StartResult.Refused"/> with LXD's reason and the container's console,
/// and nothing is left behind.</para>
/// </remarks>
public sealed partial class LxdBackend : ISpawnerBackend
{
    public const string BackendName = "lxd";

    /// <summary>The named <see cref="HttpClient"/> that talks to LXD's socket.</summary>
    public const string HttpClientName = "Lxd";

    /// <summary>The named <see cref="HttpClient"/> that asks the servers (through their proxy ports) whether they answer.</summary>
    public const string ServerHttpClientName = "LxdServers";

    public const string ServerIdKey = "user.portal.server-id";
    public const string UserKey = "user.portal.user";
    public const string ImageKey = "user.portal.image";
    public const string WebDevice = "web";
    public const string HomeDevice = "home";

    private const string TokenKey = "environment.JUPYTER_TOKEN";
    private const string Prefix = "portal-";
    private const UnixFileMode HomeMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Rounds of look-and-act in one start (create, start, a replaced or raced instance) before giving up.</summary>
    private const int MaxAttempts = 6;

    private const int ConsoleLines = 15;
    private const int MaxMessageLength = 1500;

    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(3);

    private readonly IHttpClientFactory _clients;
    private readonly LxdOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<LxdBackend> _logger;

    /// <summary>One start or stop per instance at a time in this portal (by name, striped).</summary>
    private readonly SemaphoreSlim[] _instanceLocks = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>Port choice and the ports of creates in flight (LXD lists an instance only once its record exists).</summary>
    private readonly SemaphoreSlim _portsLock = new(1, 1);

    private readonly ConcurrentDictionary<int, string> _reservedPorts = new();

    public LxdBackend(IHttpClientFactory clients, IOptions<LxdOptions> options, TimeProvider clock, ILogger<LxdBackend> logger)
    {
        _clients = clients;
        _options = options.Value;
        _clock = clock;
        _logger = logger;
    }

    public string Name => BackendName;

    public TimeSpan StartTimeout => TimeSpan.FromSeconds(_options.StartTimeoutSeconds);

    private TimeSpan StopTimeout => TimeSpan.FromSeconds(_options.StopTimeoutSeconds);

    private TimeSpan PollInterval => TimeSpan.FromMilliseconds(_options.PollIntervalMilliseconds);

    /// <summary>
    /// The instance of a user: <c>portal-&lt;username&gt;</c> where the username is a valid host name as it is, else
    /// (an <c>_</c>, a trailing or doubled <c>-</c>) <c>portal-&lt;username with - for _&gt;--&lt;10 hex of its SHA-256&gt;</c>.
    /// Only the second form has <c>--</c>, so no two users share a name.
    /// </summary>
    public static string InstanceName(Username username)
    {
        ArgumentNullException.ThrowIfNull(username);
        var value = username.Value;
        if (PlainName().IsMatch(value) && !value.Contains("--", StringComparison.Ordinal))
        {
            return Prefix + value;
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..10];
        return $"{Prefix}{value.Replace('_', '-').TrimEnd('-')}--{hash}";
    }

    /// <summary>
    /// The image alias of a spec: the catalog's provision, else <see cref="LxdOptions.Images"/> or
    /// <see cref="LxdOptions.ImageTemplate"/> for its toolkit, else <see cref="LxdOptions.DefaultImage"/>; null when
    /// that is not a possible alias (or the toolkit not a version).
    /// </summary>
    public static string? ImageFor(ServerSpec spec, LxdOptions options)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        string? alias;
        if (spec.CudaProvision is { Length: > 0 } provision)
        {
            alias = provision;
        }
        else if (spec.CudaToolkit is not { } toolkit)
        {
            alias = options.DefaultImage;
        }
        else if (!CudaToolkit.IsVersion(toolkit))
        {
            return null;
        }
        else if (options.Images.TryGetValue(toolkit, out var configured))
        {
            alias = configured;
        }
        else
        {
            var parts = toolkit.Split('.');
            alias = options.ImageTemplate.Replace("{major}", parts[0], StringComparison.Ordinal)
                .Replace("{minor}", parts[1], StringComparison.Ordinal);
        }
        return ImageAlias().IsMatch(alias) ? alias : null;
    }

    /// <summary>The body of <c>POST /1.0/instances</c> for a spec (public for the tests and for tools that prepare instances).</summary>
    public static JsonObject InstanceRequest(ServerSpec spec, LxdOptions options, string image, int port, string token)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        var user = spec.Username.Value;
        var cores = spec.Limits.CpuCores;
        var wholeCores = (int)Math.Ceiling(cores);
        var config = new JsonObject
        {
            ["limits.cpu"] = wholeCores.ToString(CultureInfo.InvariantCulture),
            ["limits.memory"] = $"{spec.Limits.MemoryGiB.ToString(CultureInfo.InvariantCulture)}GiB",
            [ServerIdKey] = spec.ServerId.ToString(),
            [UserKey] = user,
            [ImageKey] = image,
            [TokenKey] = token,
            ["environment.PORTAL_USER"] = user,
        };
        if (cores != wholeCores)
        {
            // 1.5 cores: two CPUs, at most 150 ms of CPU time per 100 ms.
            config["limits.cpu.allowance"] = $"{((int)Math.Round(cores * 100)).ToString(CultureInfo.InvariantCulture)}ms/100ms";
        }
        foreach (var (name, value) in options.Environment)
        {
            config[$"environment.{name}"] = value;
        }
        if (spec.Gpus.Count > 0)
        {
            // UUIDs name the same GPUs inside, where a container sees only its own (numbered from 0). LXD keeps no empty
            // values, so a server without GPUs has no CUDA_VISIBLE_DEVICES (and no GPU device to see).
            config["environment.CUDA_VISIBLE_DEVICES"] = string.Join(',', spec.Gpus.Select(g =>
                g.Uuid is { Length: > 0 } uuid ? uuid : g.Index.ToString(CultureInfo.InvariantCulture)));
            if (options.AttachGpus && options.NvidiaRuntime)
            {
                config["nvidia.runtime"] = "true";
            }
        }

        var devices = new JsonObject
        {
            [WebDevice] = new JsonObject
            {
                ["type"] = "proxy",
                ["listen"] = $"tcp:{options.ListenAddress}:{port.ToString(CultureInfo.InvariantCulture)}",
                ["connect"] = $"tcp:127.0.0.1:{options.ServerPort.ToString(CultureInfo.InvariantCulture)}",
            },
            [HomeDevice] = new JsonObject
            {
                ["type"] = "disk",
                ["source"] = HomePath(options, spec.Username),
                ["path"] = $"/home/{user}",
            },
        };
        if (options.ShiftHomeMount)
        {
            devices[HomeDevice]!["shift"] = "true";
        }
        if (options.AttachGpus)
        {
            foreach (var gpu in spec.Gpus)
            {
                // id is the DRM card number LXD finds the GPU by; it is the GPU's index on hosts whose only cards are the GPUs.
                devices[$"gpu{gpu.Index.ToString(CultureInfo.InvariantCulture)}"] = new JsonObject
                {
                    ["type"] = "gpu",
                    ["gputype"] = "physical",
                    ["id"] = gpu.Index.ToString(CultureInfo.InvariantCulture),
                };
            }
        }
        if (options.LimitRootDisk)
        {
            devices["root"] = new JsonObject
            {
                ["type"] = "disk",
                ["path"] = "/",
                ["pool"] = options.StoragePool,
                ["size"] = $"{spec.Limits.StorageGiB.ToString(CultureInfo.InvariantCulture)}GiB",
            };
        }

        return new JsonObject
        {
            ["name"] = InstanceName(spec.Username),
            ["type"] = "container",
            ["source"] = new JsonObject { ["type"] = "image", ["alias"] = image },
            ["profiles"] = new JsonArray([.. options.Profiles.Select(p => (JsonNode?)JsonValue.Create(p))]),
            ["config"] = config,
            ["devices"] = devices,
        };
    }

    public async Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (ImageFor(spec, _options) is not { } image)
        {
            return new StartResult.Refused(spec.CudaProvision is { Length: > 0 } provision
                ? $"'{provision}' is not an LXD image alias."
                : $"There is no LXD image for the toolkit '{spec.CudaToolkit}'.");
        }
        var name = InstanceName(spec.Username);
        var server = new ServerRef(Name, spec.Username, name);
        var client = Client();
        var deadline = _clock.GetUtcNow() + StartTimeout;
        using var _ = await LockAsync(name, cancellationToken);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var instance = await GetInstanceAsync(client, name, cancellationToken);
            if (instance is null)
            {
                if (await CreateAsync(client, spec, name, image, deadline, cancellationToken) is { } refused)
                {
                    return refused;
                }
                continue;
            }
            if (instance.Get(UserKey) != spec.Username.Value)
            {
                LogNotOurs(_logger, name, spec.Username.Value);
                return new StartResult.Refused($"An LXD instance {name} exists that the portal did not make for {spec.Username}; it is left alone.");
            }
            if (instance.Get(ServerIdKey) != spec.ServerId.ToString() || instance.Get(ImageKey) != image)
            {
                LogReplacing(_logger, name, instance.Get(ServerIdKey) ?? "", instance.Get(ImageKey) ?? "", spec.ServerId, image);
                await RemoveAsync(client, name, deadline, cancellationToken);
                continue;
            }
            if (await BusyAsync(client, name, cancellationToken) is not null)
            {
                await WaitForOperationsAsync(client, name, deadline, cancellationToken);
                continue;
            }
            switch (instance.Status)
            {
                case InstanceState.Running:
                    return await StatusAsync(instance, cancellationToken) is not null
                        ? new StartResult.Ready(server, UserUrl(instance))
                        : new StartResult.Pending(server);
                case InstanceState.Stopped:
                    if (await StartInstanceAsync(client, spec, instance, deadline, attempt, cancellationToken) is { } result)
                    {
                        return result;
                    }
                    continue;
                case InstanceState.Frozen:
                    await client.RunAsync(HttpMethod.Put, StatePath(name), new JsonObject { ["action"] = "unfreeze" }, Remaining(deadline), cancellationToken);
                    continue;
                case InstanceState.Error:
                    LogReplacingBroken(_logger, name);
                    await RemoveAsync(client, name, deadline, cancellationToken);
                    continue;
                case InstanceState.Starting or InstanceState.Stopping or InstanceState.Other:
                    // Starting or stopping on its own (no operation of ours): look again shortly.
                    await DelayAsync(deadline, cancellationToken);
                    continue;
                default:
                    throw new InvalidOperationException($"Unknown state {instance.Status}.");
            }
        }
        throw new LxdException($"LXD did not settle the container {name} after {MaxAttempts} attempts to start it.");
    }

    public async Task StopAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var name = Own(server);
        var client = Client();
        using var _ = await LockAsync(name, cancellationToken);
        var instance = await GetInstanceAsync(client, name, cancellationToken);
        if (instance is null)
        {
            return;
        }
        if (instance.Get(UserKey) != server.Username.Value)
        {
            LogNotOurs(_logger, name, server.Username.Value);
            return;
        }
        await RemoveAsync(client, name, _clock.GetUtcNow() + StopTimeout, cancellationToken);
        LogRemoved(_logger, name);
    }

    public async Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var name = Own(server);
        var client = Client();
        var instance = await GetInstanceAsync(client, name, cancellationToken);
        if (instance is not null && instance.Get(UserKey) != server.Username.Value)
        {
            return new ServerStatus.Stopped($"The LXD instance {name} is not the portal's.");
        }
        var busy = await BusyAsync(client, name, cancellationToken);
        if (instance is null && busy is null)
        {
            return new ServerStatus.Stopped(null);
        }
        switch (busy)
        {
            case Phase.Creating:
                return new ServerStatus.Starting(10, "Creating the container.");
            case Phase.Starting:
                return new ServerStatus.Starting(40, "Starting the container.");
            case Phase.Stopping:
                return new ServerStatus.Stopping();
            case null:
                break;
            default:
                throw new InvalidOperationException($"Unknown phase {busy}.");
        }
        switch (instance!.Status)
        {
            case InstanceState.Running:
                if (await StatusAsync(instance, cancellationToken) is { } status)
                {
                    return new ServerStatus.Running(UserUrl(instance), status.LastActivity);
                }
                return TimedOut(instance)
                    ? new ServerStatus.Failed(await NotAnsweringAsync(client, instance, cancellationToken))
                    : new ServerStatus.Starting(70, "The container runs; waiting for the server to answer.");
            case InstanceState.Stopped:
                return new ServerStatus.Stopped(await StoppedReasonAsync(client, name, cancellationToken));
            case InstanceState.Stopping:
                return new ServerStatus.Stopping();
            case InstanceState.Frozen:
                return new ServerStatus.Failed($"The container {name} is frozen.");
            case InstanceState.Error:
                return new ServerStatus.Failed($"LXD reports an error for the container {name}.");
            case InstanceState.Starting or InstanceState.Other:
                return new ServerStatus.Starting(40, "Starting the container.");
            default:
                throw new InvalidOperationException($"Unknown state {instance.Status}.");
        }
    }

    public async IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var name = Own(server);
        var client = Client();
        // Waiting for the server is bounded by the start time LXD records; creating and starting by this.
        var giveUp = _clock.GetUtcNow() + StartTimeout;
        string? announced = null;
        while (true)
        {
            var instance = await GetInstanceAsync(client, name, cancellationToken);
            if (instance is not null && instance.Get(UserKey) != server.Username.Value)
            {
                yield break;
            }
            var busy = await BusyAsync(client, name, cancellationToken);
            if (instance is null && busy is null)
            {
                yield break;
            }
            ProgressEvent step;
            if (busy is { } phase)
            {
                step = phase switch
                {
                    Phase.Creating => new ProgressEvent(10, "Creating the container from its image."),
                    Phase.Starting => new ProgressEvent(40, "Starting the container."),
                    Phase.Stopping => new ProgressEvent(100, "The container is being stopped.", Failed: true),
                    _ => throw new InvalidOperationException($"Unknown phase {phase}."),
                };
            }
            else if (instance!.Status == InstanceState.Running)
            {
                step = await StatusAsync(instance, cancellationToken) is not null
                    ? new ProgressEvent(100, "The server is ready.", Ready: true, Url: UserUrl(instance))
                    : TimedOut(instance)
                        ? new ProgressEvent(100, await NotAnsweringAsync(client, instance, cancellationToken), Failed: true)
                        : new ProgressEvent(70, "The container runs; waiting for the server to answer.");
            }
            else if (instance.Status is InstanceState.Stopped or InstanceState.Stopping or InstanceState.Frozen or InstanceState.Error)
            {
                step = new ProgressEvent(100, await StoppedReasonAsync(client, name, cancellationToken), Failed: true);
            }
            else
            {
                step = new ProgressEvent(40, "Starting the container.");
            }
            if (!step.Ready && !step.Failed && busy is not null && _clock.GetUtcNow() > giveUp)
            {
                step = new ProgressEvent(100, $"The container {name} was not up within {_options.StartTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s.", Failed: true);
            }
            if (step.Ready || step.Failed)
            {
                yield return step;
                yield break;
            }
            if (step.Message != announced)
            {
                announced = step.Message;
                yield return step;
            }
            await Task.Delay(PollInterval, _clock, cancellationToken);
        }
    }

    private LxdClient Client() => new(_clients.CreateClient(HttpClientName), _options.Project, TimeSpan.FromSeconds(_options.RequestTimeoutSeconds));

    /// <summary>The instance name of a server of this backend (checked: it becomes part of a URL path).</summary>
    private string Own(ServerRef server)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (server.Backend != Name)
        {
            throw new ArgumentException($"The server belongs to the backend '{server.Backend}', not '{Name}'.", nameof(server));
        }
        var name = InstanceName(server.Username);
        return server.Reference == name
            ? name
            : throw new ArgumentException($"'{server.Reference}' is not the LXD instance of {server.Username} ({name}).", nameof(server));
    }

    /// <summary>Creates the instance (null: go on and start it) or says why it cannot be (nothing is left behind).</summary>
    private async Task<StartResult.Refused?> CreateAsync(LxdClient client, ServerSpec spec, string name, string image, DateTimeOffset deadline,
        CancellationToken cancellationToken)
    {
        EnsureHome(spec.Username);
        int port;
        await _portsLock.WaitAsync(cancellationToken);
        try
        {
            if (await AllocatePortAsync(client, cancellationToken) is not { } free)
            {
                return new StartResult.Refused(
                    $"No free port between {_options.PortRangeStart} and {_options.PortRangeEnd} for another LXD server.");
            }
            port = free;
            _reservedPorts[port] = name;
        }
        finally
        {
            _portsLock.Release();
        }
        try
        {
            var token = RandomNumberGenerator.GetHexString(48, lowercase: true);
            var response = await client.SendAsync(HttpMethod.Post, "/1.0/instances", InstanceRequest(spec, _options, image, port, token), cancellationToken);
            if (response.IsError)
            {
                if (await GetInstanceAsync(client, name, cancellationToken) is not null)
                {
                    return null; // made meanwhile (another portal): adopt it
                }
                if (response.IsNotFound)
                {
                    LogNoImage(_logger, image, response.Error);
                    return new StartResult.Refused($"There is no LXD image '{image}' here ({response.Error}).");
                }
                throw new LxdException($"LXD refused to create the container {name}: {response.Error}", (HttpStatusCode)response.ErrorCode);
            }
            var created = await client.WaitAsync(response, Remaining(deadline), cancellationToken);
            if (created.Succeeded)
            {
                LogCreated(_logger, name, image, port);
                return null;
            }
            if (created.Running || await GetInstanceAsync(client, name, cancellationToken) is not null)
            {
                // Still unpacking (the next round waits for it), or "already exists": made by another start meanwhile.
                return null;
            }
            throw new LxdException($"LXD could not create the container {name}: {created.Error}");
        }
        finally
        {
            _reservedPorts.TryRemove(port, out _);
        }
    }

    /// <summary>Starts a stopped instance of ours: null when it started (or someone else's start won), else the answer.</summary>
    private async Task<StartResult?> StartInstanceAsync(LxdClient client, ServerSpec spec, Instance instance, DateTimeOffset deadline, int attempt,
        CancellationToken cancellationToken)
    {
        var name = instance.Name;
        EnsureHome(spec.Username);
        var started = await client.RunAsync(HttpMethod.Put, StatePath(name), new JsonObject { ["action"] = "start" }, Remaining(deadline),
            cancellationToken);
        if (started.Succeeded)
        {
            LogStarted(_logger, name, instance.Port ?? 0);
            return new StartResult.Pending(new ServerRef(Name, spec.Username, name));
        }
        if (started.Running)
        {
            return null; // the next round waits for the operation
        }
        var after = await GetInstanceAsync(client, name, cancellationToken);
        if (after is null || after.Status != InstanceState.Stopped)
        {
            return null; // started by another caller meanwhile, or gone: look again
        }
        if (instance.Port is { } port && !IsFree(port) && attempt < MaxAttempts)
        {
            // Another program (or portal) took the port since: a new instance on another one.
            LogPortTaken(_logger, name, port);
            await RemoveAsync(client, name, deadline, cancellationToken);
            return null;
        }
        var reason = Limit($"LXD could not start the container {name}: {started.Error}{await ConsoleAsync(client, name, cancellationToken)}");
        LogStartFailed(_logger, name, reason);
        await RemoveAsync(client, name, deadline, cancellationToken);
        return new StartResult.Refused(reason);
    }

    /// <summary>Stops (forced) and deletes the instance, after whatever create or start is in flight; gone is success.</summary>
    private async Task RemoveAsync(LxdClient client, string name, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        while (await GetInstanceAsync(client, name, cancellationToken) is { } instance)
        {
            if (_clock.GetUtcNow() > deadline)
            {
                throw new LxdException($"The container {name} was still there (status {instance.Status}) when the time to remove it was up.");
            }
            if (await BusyAsync(client, name, cancellationToken) is not null)
            {
                await WaitForOperationsAsync(client, name, deadline, cancellationToken);
                continue;
            }
            var done = instance.Status == InstanceState.Stopped
                ? await client.RunAsync(HttpMethod.Delete, InstancePath(name), null, Remaining(deadline), cancellationToken)
                : await client.RunAsync(HttpMethod.Put, StatePath(name), new JsonObject { ["action"] = "stop", ["force"] = true },
                    Remaining(deadline), cancellationToken);
            if (!done.Succeeded)
            {
                // Busy with an operation that began meanwhile, or already gone: the next round sees which.
                await DelayAsync(deadline, cancellationToken);
            }
        }
    }

    /// <summary>The instance with its state (<c>GET /1.0/instances/NAME?recursion=1</c>), or null when LXD has none.</summary>
    private static async Task<Instance?> GetInstanceAsync(LxdClient client, string name, CancellationToken cancellationToken)
    {
        var response = await client.GetAsync($"{InstancePath(name)}?recursion=1", cancellationToken);
        if (response.IsNotFound)
        {
            return null;
        }
        if (response.IsError)
        {
            throw new LxdException($"LXD answered {response.ErrorCode} when asked for the container {name}: {response.Error}", (HttpStatusCode)response.ErrorCode);
        }
        return Instance.Parse(response.Metadata);
    }

    /// <summary>What LXD is doing to the instance now (its running create, start or stop/delete operations), or null.</summary>
    private static async Task<Phase?> BusyAsync(LxdClient client, string name, CancellationToken cancellationToken)
    {
        var operations = await RunningOperationsAsync(client, name, cancellationToken);
        if (operations.Count == 0)
        {
            return null;
        }
        return operations.Any(o => o.Description.StartsWith("Stopping", StringComparison.Ordinal) || o.Description.StartsWith("Deleting", StringComparison.Ordinal))
            ? Phase.Stopping
            : operations.Any(o => o.Description.StartsWith("Creating", StringComparison.Ordinal))
                ? Phase.Creating
                : Phase.Starting;
    }

    /// <summary>Running operations on the instance, except commands executed in it (a shell may run for hours).</summary>
    private static async Task<List<(string Path, string Description)>> RunningOperationsAsync(LxdClient client, string name,
        CancellationToken cancellationToken)
    {
        var response = await client.GetAsync("/1.0/operations?recursion=1", cancellationToken);
        if (response.IsError)
        {
            throw new LxdException($"LXD answered {response.ErrorCode} when asked for its operations: {response.Error}", (HttpStatusCode)response.ErrorCode);
        }
        var resource = InstancePath(name);
        var found = new List<(string, string)>();
        if (response.Metadata.ValueKind != JsonValueKind.Object)
        {
            return found;
        }
        foreach (var group in response.Metadata.EnumerateObject())
        {
            if (group.Value.ValueKind != JsonValueKind.Array)
            {
                continue;
            }
            foreach (var operation in group.Value.EnumerateArray())
            {
                var status = operation.TryGetProperty("status_code", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : 0;
                var description = operation.TryGetProperty("description", out var text) ? text.GetString() ?? "" : "";
                if (status is not ((int)LxdStatus.Running or (int)LxdStatus.Pending)
                    || description.StartsWith("Executing", StringComparison.Ordinal)
                    || !operation.TryGetProperty("resources", out var resources) || resources.ValueKind != JsonValueKind.Object
                    || !resources.TryGetProperty("instances", out var instances) || instances.ValueKind != JsonValueKind.Array
                    || !instances.EnumerateArray().Any(i => i.GetString() is { } path && (path == resource || path.StartsWith(resource + "?", StringComparison.Ordinal))))
                {
                    continue;
                }
                var id = operation.TryGetProperty("id", out var value) ? value.GetString() ?? "" : "";
                found.Add(($"/1.0/operations/{id}", description));
            }
        }
        return found;
    }

    private async Task WaitForOperationsAsync(LxdClient client, string name, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        while (await RunningOperationsAsync(client, name, cancellationToken) is [var (path, description), ..])
        {
            if (_clock.GetUtcNow() > deadline)
            {
                throw new LxdException($"LXD was still busy with the container {name} ({description}) when the time was up.");
            }
            await client.WaitAsync(path, Remaining(deadline), cancellationToken);
        }
    }

    /// <summary>A port of the range that no instance's proxy device names, no start of this portal holds, and nothing listens on.</summary>
    private async Task<int?> AllocatePortAsync(LxdClient client, CancellationToken cancellationToken)
    {
        var response = await client.GetAsync("/1.0/instances?recursion=1", cancellationToken);
        if (response.IsError)
        {
            throw new LxdException($"LXD answered {response.ErrorCode} when asked for its instances: {response.Error}", (HttpStatusCode)response.ErrorCode);
        }
        var taken = new HashSet<int>(_reservedPorts.Keys);
        if (response.Metadata.ValueKind == JsonValueKind.Array)
        {
            foreach (var instance in response.Metadata.EnumerateArray())
            {
                foreach (var devices in new[] { "devices", "expanded_devices" })
                {
                    if (instance.TryGetProperty(devices, out var list) && list.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var device in list.EnumerateObject())
                        {
                            if (ListenPort(device.Value) is { } port)
                            {
                                taken.Add(port);
                            }
                        }
                    }
                }
            }
        }
        for (var port = _options.PortRangeStart; port <= _options.PortRangeEnd; port++)
        {
            if (!taken.Contains(port) && IsFree(port))
            {
                return port;
            }
        }
        return null;
    }

    private bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(ListenIp(), port));
            socket.Listen();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private IPAddress ListenIp() =>
        IPAddress.TryParse(_options.ListenAddress, out var address) && address.AddressFamily == AddressFamily.InterNetwork ? address : IPAddress.Loopback;

    /// <summary><c>/api/status</c> of the server through its proxy port when it answers 200, else null.</summary>
    private async Task<JupyterStatus?> StatusAsync(Instance instance, CancellationToken cancellationToken)
    {
        if (instance.Port is not { } port)
        {
            return null;
        }
        var host = ListenIp().Equals(IPAddress.Any) ? IPAddress.Loopback : ListenIp();
        var root = new Uri($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}/");
        return await JupyterStatusProbe.AskAsync(_clients.CreateClient(ServerHttpClientName), root, instance.Get(TokenKey), cancellationToken, StatusTimeout);
    }

    private bool TimedOut(Instance instance) =>
        instance.LastUsedAt is { } started && _clock.GetUtcNow() - started > StartTimeout;

    private Uri UserUrl(Instance instance)
    {
        var port = (instance.Port ?? 0).ToString(CultureInfo.InvariantCulture);
        var query = instance.Get(TokenKey) is { Length: > 0 } token ? $"?token={Uri.EscapeDataString(token)}" : "";
        return new Uri($"http://{_options.BaseUrlHost}:{port}/{query}");
    }

    private async Task<string> NotAnsweringAsync(LxdClient client, Instance instance, CancellationToken cancellationToken) =>
        Limit($"The server in the container {instance.Name} did not answer on port {(instance.Port ?? 0).ToString(CultureInfo.InvariantCulture)} "
            + $"within {_options.StartTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s.{await ConsoleAsync(client, instance.Name, cancellationToken)}");

    private async Task<string> StoppedReasonAsync(LxdClient client, string name, CancellationToken cancellationToken) =>
        Limit($"The container {name} stopped.{await ConsoleAsync(client, name, cancellationToken)}");

    /// <summary>The end of the container's console log (what its init printed), as a line to append, or "".</summary>
    private static async Task<string> ConsoleAsync(LxdClient client, string name, CancellationToken cancellationToken)
    {
        string? text;
        try
        {
            text = await client.GetTextAsync($"{InstancePath(name)}/console", cancellationToken);
        }
        catch (LxdException)
        {
            return "";
        }
        var lines = (text ?? "").Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "" : $"\nConsole:\n{string.Join('\n', lines.TakeLast(ConsoleLines))}";
    }

    private void EnsureHome(Username username)
    {
        var home = HomePath(_options, username);
        if (!System.IO.Directory.Exists(home))
        {
            System.IO.Directory.CreateDirectory(_options.HomeRoot);
            System.IO.Directory.CreateDirectory(home, HomeMode);
        }
    }

    private static string HomePath(LxdOptions options, Username username) => Path.GetFullPath(Path.Combine(options.HomeRoot, username.Value));

    private static int? ListenPort(JsonElement device)
    {
        if (device.ValueKind != JsonValueKind.Object
            || !device.TryGetProperty("type", out var type) || type.GetString() != "proxy"
            || !device.TryGetProperty("listen", out var listen) || listen.GetString() is not { } address)
        {
            return null;
        }
        var colon = address.LastIndexOf(':');
        return colon > 0 && int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) ? port : null;
    }

    private TimeSpan Remaining(DateTimeOffset deadline)
    {
        var left = deadline - _clock.GetUtcNow();
        return left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1);
    }

    private async Task DelayAsync(DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        if (_clock.GetUtcNow() > deadline)
        {
            throw new LxdException("The time for this LXD request was up.");
        }
        await Task.Delay(PollInterval, _clock, cancellationToken);
    }

    private async Task<IDisposable> LockAsync(string name, CancellationToken cancellationToken)
    {
        var gate = _instanceLocks[(int)((uint)StringComparer.Ordinal.GetHashCode(name) % (uint)_instanceLocks.Length)];
        await gate.WaitAsync(cancellationToken);
        return new Releaser(gate);
    }

    private static string InstancePath(string name) => $"/1.0/instances/{Uri.EscapeDataString(name)}";

    private static string StatePath(string name) => $"{InstancePath(name)}/state";

    private static string Limit(string message) => message.Length <= MaxMessageLength ? message : message[..MaxMessageLength] + "…";

    [GeneratedRegex(@"^[a-z][a-z0-9-]*[a-z0-9]\z", RegexOptions.CultureInvariant)]
    private static partial Regex PlainName();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ImageAlias();

    [LoggerMessage(Level = LogLevel.Information, Message = "Created the LXD container {Instance} from {Image} (proxy port {Port})")]
    private static partial void LogCreated(ILogger logger, string instance, string image, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started the LXD container {Instance} (proxy port {Port})")]
    private static partial void LogStarted(ILogger logger, string instance, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped and deleted the LXD container {Instance}")]
    private static partial void LogRemoved(ILogger logger, string instance);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The LXD instance {Instance} was not made by the portal for {Username}; leaving it alone")]
    private static partial void LogNotOurs(ILogger logger, string instance, string username);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Replacing the LXD container {Instance} (server {OldServer}, image {OldImage}) with one for server {ServerId}, image {Image}")]
    private static partial void LogReplacing(ILogger logger, string instance, string oldServer, string oldImage, Guid serverId, string image);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LXD reports an error for the container {Instance}; replacing it")]
    private static partial void LogReplacingBroken(ILogger logger, string instance);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The proxy port {Port} of the LXD container {Instance} is taken; making it anew on another port")]
    private static partial void LogPortTaken(ILogger logger, string instance, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The LXD container {Instance} did not start: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string instance, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "There is no LXD image {Image}: {Error}")]
    private static partial void LogNoImage(ILogger logger, string image, string error);

    /// <summary>An instance's status as the backend tells them apart (LXD's <see cref="LxdStatus"/> has many more).</summary>
    private enum InstanceState
    {
        Running,
        Stopped,
        Starting,
        Stopping,
        Frozen,
        Error,
        Other,
    }

    private enum Phase
    {
        Creating,
        Starting,
        Stopping,
    }


    /// <summary>What the backend reads of an instance: status, its own config, the proxy port, when it last started.</summary>
    private sealed record Instance(string Name, InstanceState Status, IReadOnlyDictionary<string, string> Config, int? Port, DateTimeOffset? LastUsedAt)
    {
        public string? Get(string key) => Config.TryGetValue(key, out var value) ? value : null;

        public static Instance Parse(JsonElement metadata)
        {
            var config = new Dictionary<string, string>(StringComparer.Ordinal);
            if (metadata.TryGetProperty("config", out var values) && values.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in values.EnumerateObject())
                {
                    if (entry.Value.ValueKind == JsonValueKind.String)
                    {
                        config[entry.Name] = entry.Value.GetString()!;
                    }
                }
            }
            int? port = metadata.TryGetProperty("devices", out var devices) && devices.ValueKind == JsonValueKind.Object
                && devices.TryGetProperty(WebDevice, out var web)
                    ? ListenPort(web)
                    : null;
            // LXD writes the zero time (year 1) for an instance that never ran.
            DateTimeOffset? lastUsed = metadata.TryGetProperty("last_used_at", out var used) && used.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(used.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) && at.Year > 1
                    ? at
                    : null;
            var status = (metadata.TryGetProperty("status_code", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : 0) switch
            {
                (int)LxdStatus.Running => InstanceState.Running,
                (int)LxdStatus.Stopped => InstanceState.Stopped,
                (int)LxdStatus.Starting => InstanceState.Starting,
                (int)LxdStatus.Stopping => InstanceState.Stopping,
                (int)LxdStatus.Frozen or (int)LxdStatus.Freezing => InstanceState.Frozen,
                (int)LxdStatus.Error => InstanceState.Error,
                _ => InstanceState.Other,
            };
            return new Instance(metadata.TryGetProperty("name", out var name) ? name.GetString() ?? "" : "", status, config, port, lastUsed);
        }
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}
