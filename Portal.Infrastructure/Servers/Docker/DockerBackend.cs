using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
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

namespace Portal.Infrastructure.Servers.Docker;

/// <summary>
/// Users' servers as Docker containers, one per user, through the Docker Engine API (pinned to
/// <see cref="ApiVersion"/>, Docker 20.10 and later) over its unix socket (see <see cref="DockerOptions"/>). Docker is
/// the truth: the backend keeps no state of its own, and <see cref="ServerRef.Reference"/> is the container's id.
/// </summary>
/// <remarks>
/// <para><b>Finding a server.</b> Every container carries the labels <see cref="UserLabel"/>,
/// <see cref="ServerIdLabel"/> and <see cref="ImageLabel"/> and is named <c>{ContainerNamePrefix}{username}</c>, so a user
/// never has two: a create that loses a race (409) looks again and adopts the winner's container, and a start after a
/// crash between the create and the portal's record finds the container by its labels. A container counts as a
/// user's only while its <see cref="UserLabel"/> says so; any other is never stopped, removed or reported.</para>
/// <para><b>Start.</b> A created, running or restarting container of the same server and image is adopted (started
/// when only created); any other container of the user (exited, of another server record, of another image) is
/// removed first. The new container gets the image of the toolkit (<see cref="ServerSpec.CudaProvision"/>, else
/// <see cref="DockerOptions.ImageTemplate"/>, else <see cref="DockerOptions.DefaultImage"/>), the quota
/// (<c>NanoCpus</c>, <c>Memory</c>), the GPUs (a device request when <see cref="DockerOptions.RequestGpus"/>), the
/// user's home read-write and the shared data read-only, and the container port published on
/// <see cref="DockerOptions.PublishAddress"/> (a port of the configured range, or any free one, read back from the
/// container). A start Docker refuses (no such image, no free port, no GPU runtime) is <see cref="StartResult.Refused"/>
/// with Docker's message, and the container is removed.</para>
/// <para><b>Ready</b> is <c>GET /api/status</c> on the published port answering 200, as Jupyter Server answers it.
/// The token is a fresh random one per container, passed as <c>JUPYTER_TOKEN</c> (Jupyter reads it from there) and
/// read back from the container's configuration; it is in the URL handed to the user and blanked out of the log
/// lines the backend reports. Whoever can use the Docker socket can read it, as they can do anything else.</para>
/// <para><b>Failures of Docker itself</b> (no socket, unexpected answers) throw <see cref="DockerException"/> or
/// <see cref="HttpRequestException"/>; the jobs retry.</para>
/// </remarks>
public sealed partial class DockerBackend : ISpawnerBackend, IDisposable
{
    public const string BackendName = "docker";

    /// <summary>The named <see cref="HttpClient"/> that talks to the Engine over its socket (base address <see cref="ApiBase"/>).</summary>
    public const string HttpClientName = "Docker";

    /// <summary>The Engine API version every request names (Docker 20.10's; later Engines still serve it).</summary>
    public const string ApiVersion = "v1.41";

    public const string BackendLabel = "portal.backend";
    public const string UserLabel = "portal.user";
    public const string ServerIdLabel = "portal.server-id";
    public const string ImageLabel = "portal.image";
    public const string ToolkitLabel = "portal.toolkit";

    /// <summary>The server's token, in the container's environment.</summary>
    public const string TokenVariable = "JUPYTER_TOKEN";

    private const UnixFileMode HomeMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const int MaxAttempts = 5;
    private const int MaxMessageLength = 2000;
    private const int LogLines = 20;

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>What <see cref="ProgressAsync"/> reports on the way, in order; a status names the furthest by its percent.</summary>
    private static readonly (int Percent, string Message)[] Stages =
    [
        (20, "Container created."),
        (40, "Container started."),
        (60, "Waiting for the server to answer."),
    ];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General) { PropertyNameCaseInsensitive = true };

    private readonly IHttpClientFactory _clients;
    private readonly DockerOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<DockerBackend> _logger;
    private readonly HttpClient _http;

    /// <summary>Start and stop of one user's server, one at a time in this process (other processes: the container name).</summary>
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public DockerBackend(IHttpClientFactory clients, IOptions<DockerOptions> options, TimeProvider clock, ILogger<DockerBackend> logger)
    {
        _clients = clients;
        _options = options.Value;
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

    /// <summary>The Engine API's base address; the host is a placeholder, every connection goes to the socket.</summary>
    public static Uri ApiBase { get; } = new($"http://docker/{ApiVersion}/");

    public string Name => BackendName;

    public TimeSpan StartTimeout => TimeSpan.FromSeconds(_options.StartTimeoutSeconds);

    private string PortKey => $"{_options.ContainerPort.ToString(CultureInfo.InvariantCulture)}/tcp";

    public async Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.CudaToolkit is { } toolkit && !ToolkitVersion().IsMatch(toolkit))
        {
            return new StartResult.Refused($"'{toolkit}' is not a CUDA toolkit version.");
        }
        if (_options.SharedDataPath is { Length: > 0 } shared && !System.IO.Directory.Exists(shared))
        {
            return new StartResult.Refused($"The shared data folder {shared} does not exist.");
        }
        var user = spec.Username;
        var image = ImageFor(spec);
        var gate = _gates.GetOrAdd(user.Value, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetFullPath(_options.HomeRoot));
            System.IO.Directory.CreateDirectory(HomeOf(user), HomeMode);
            var client = Client();
            for (var attempt = 1; attempt <= MaxAttempts; attempt++)
            {
                var adopted = await AdoptOrClearAsync(client, spec, image, cancellationToken);
                string id;
                if (adopted is { State: "running" or "restarting" })
                {
                    return await StartedAsync(client, user, adopted.Id, cancellationToken);
                }
                if (adopted is not null)
                {
                    id = adopted.Id;
                }
                else
                {
                    var (created, refusal) = await CreateAsync(client, spec, image, cancellationToken);
                    if (refusal is not null)
                    {
                        LogStartRefused(_logger, user.Value, image, refusal);
                        return new StartResult.Refused(refusal);
                    }
                    if (created is null)
                    {
                        // 409: another start took the name meanwhile (or a removal still holds it): look again.
                        await Task.Delay(RetryDelay * attempt, _clock, cancellationToken);
                        continue;
                    }
                    id = created;
                }

                using var response = await client.PostAsync($"containers/{id}/start", null, cancellationToken);
                if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
                {
                    LogStarted(_logger, user.Value, id, image);
                    return new StartResult.Pending(Reference(user, id));
                }
                if (response.StatusCode is HttpStatusCode.NotFound)
                {
                    continue; // removed meanwhile
                }
                // Docker would not run it (no GPU runtime, no free port in the range, a bad mount): nothing is left behind.
                var message = await MessageAsync(response, cancellationToken);
                await RemoveAsync(client, id, cancellationToken);
                LogStartRefused(_logger, user.Value, image, message);
                return new StartResult.Refused($"Docker could not start the container: {message}");
            }
            throw new DockerException($"The container of {user} kept changing while it was being started ({MaxAttempts} attempts).");
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task StopAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var user = Own(server);
        var gate = _gates.GetOrAdd(user.Value, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            var client = Client();
            var ids = new List<string>();
            if (IsContainerId(server.Reference) && await InspectAsync(client, server.Reference, cancellationToken) is { } referenced)
            {
                if (IsOf(referenced.Config?.Labels, user))
                {
                    ids.Add(referenced.Id);
                }
                else
                {
                    LogNotOurs(_logger, user.Value, server.Reference);
                }
            }
            // Also any other container of the user (a start whose answer was lost, a leftover).
            foreach (var container in await ListAsync(client, user, cancellationToken))
            {
                if (!ids.Contains(container.Id, StringComparer.Ordinal))
                {
                    ids.Add(container.Id);
                }
            }
            foreach (var id in ids)
            {
                var query = $"t={_options.StopTimeoutSeconds.ToString(CultureInfo.InvariantCulture)}";
                using (var stop = await client.PostAsync($"containers/{id}/stop?{query}", null, cancellationToken))
                {
                    // 204 stopped, 304 not running, 404 gone; anything else: the removal below forces it.
                    if (stop.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotModified or HttpStatusCode.NotFound))
                    {
                        LogStopAnswered(_logger, user.Value, id, (int)stop.StatusCode, await MessageAsync(stop, cancellationToken));
                    }
                }
                await RemoveAsync(client, id, cancellationToken);
            }
            LogStopped(_logger, user.Value, ids.Count);
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var user = Own(server);
        var client = Client();
        return await FindAsync(client, user, server.Reference, cancellationToken) is { } container
            ? await StatusAsync(client, container, cancellationToken)
            : new ServerStatus.Stopped("The container is gone.");
    }

    public async IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var user = Own(server);
        var client = Client();
        var announced = 0;
        while (true)
        {
            if (await FindAsync(client, user, server.Reference, cancellationToken) is not { } container)
            {
                yield return new ProgressEvent(100, "The server was stopped.", Failed: true);
                yield break;
            }
            var status = await StatusAsync(client, container, cancellationToken);
            switch (status)
            {
                case ServerStatus.Running running:
                    yield return new ProgressEvent(100, "The server is ready.", Ready: true, Url: running.Url);
                    yield break;
                case ServerStatus.Failed failed:
                    yield return new ProgressEvent(100, failed.Reason, Failed: true);
                    yield break;
                case ServerStatus.Stopped stopped:
                    yield return new ProgressEvent(100, stopped.Reason ?? "The server stopped.", Failed: true);
                    yield break;
                case ServerStatus.Stopping:
                    yield return new ProgressEvent(100, "The server was stopped.", Failed: true);
                    yield break;
                case ServerStatus.Starting starting:
                    // Every stage up to where the container is, each once: created, started, waiting for the server.
                    foreach (var (percent, message) in Stages.Skip(announced).TakeWhile(s => s.Percent <= (starting.Percent ?? 0)))
                    {
                        announced++;
                        yield return new ProgressEvent(percent, message);
                    }
                    break;
                default:
                    throw new InvalidOperationException($"Unknown status {status.GetType().Name}.");
            }
            await Task.Delay(ProgressInterval, _clock, cancellationToken);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The image of a spec: the catalog's Docker provision, else the template with the version, else the default.</summary>
    public string ImageFor(ServerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.CudaProvision is { Length: > 0 } provision ? provision
            : spec.CudaToolkit is { Length: > 0 } version ? _options.ImageTemplate.Replace(DockerOptions.VersionPlaceholder, version, StringComparison.Ordinal)
            : _options.DefaultImage;
    }

    /// <summary>
    /// The body of <c>POST /containers/create</c> for a spec: image, labels, environment (token, toolkit, GPUs), quota,
    /// GPU device request, mounts and the published port. What the backend sends, exposed so that it can be checked.
    /// </summary>
    public JsonObject ContainerDefinition(ServerSpec spec, string image, string token)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var user = spec.Username.Value;
        var gpuIds = spec.Gpus.All(g => g.Uuid.Length > 0)
            ? spec.Gpus.Select(g => g.Uuid).ToList()
            : spec.Gpus.Select(g => g.Index.ToString(CultureInfo.InvariantCulture)).ToList();

        var environment = new Dictionary<string, string>(_options.Environment, StringComparer.Ordinal)
        {
            [TokenVariable] = token,
            ["JUPYTER_PORT"] = _options.ContainerPort.ToString(CultureInfo.InvariantCulture),
            ["HOME"] = _options.ContainerHome,
            ["PORTAL_USER"] = user,
            // The container sees its GPUs numbered from 0, whichever they are on the host.
            ["CUDA_VISIBLE_DEVICES"] = string.Join(',', Enumerable.Range(0, spec.Gpus.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))),
        };
        if (spec.Gpus.Count == 0)
        {
            // CUDA images say NVIDIA_VISIBLE_DEVICES=all: where nvidia is the default runtime, that would be every GPU.
            environment["NVIDIA_VISIBLE_DEVICES"] = "void";
        }
        else if (!_options.RequestGpus)
        {
            environment["NVIDIA_VISIBLE_DEVICES"] = string.Join(',', gpuIds);
        }

        var labels = new JsonObject
        {
            [BackendLabel] = BackendName,
            [UserLabel] = user,
            [ServerIdLabel] = spec.ServerId.ToString(),
            [ImageLabel] = image,
        };
        if (spec.CudaToolkit is { } toolkit)
        {
            labels[ToolkitLabel] = toolkit;
        }

        var mounts = new JsonArray
        {
            new JsonObject { ["Type"] = "bind", ["Source"] = HomeOf(spec.Username), ["Target"] = _options.ContainerHome, ["ReadOnly"] = false },
        };
        if (_options.SharedDataPath is { Length: > 0 } shared)
        {
            mounts.Add(new JsonObject
            {
                ["Type"] = "bind",
                ["Source"] = Path.GetFullPath(shared),
                ["Target"] = _options.SharedDataMountPoint,
                ["ReadOnly"] = true,
            });
        }

        var hostPort = _options is { PortRangeStart: { } start, PortRangeEnd: { } end }
            ? $"{start.ToString(CultureInfo.InvariantCulture)}-{end.ToString(CultureInfo.InvariantCulture)}"
            : "";
        var hostConfig = new JsonObject
        {
            ["PortBindings"] = new JsonObject
            {
                [PortKey] = new JsonArray { new JsonObject { ["HostIp"] = _options.PublishAddress, ["HostPort"] = hostPort } },
            },
            ["Mounts"] = mounts,
            ["RestartPolicy"] = new JsonObject { ["Name"] = "no" },
        };
        if (spec.Limits.CpuCores > 0)
        {
            hostConfig["NanoCpus"] = (long)decimal.Round(spec.Limits.CpuCores * 1_000_000_000m);
        }
        if (spec.Limits.MemoryGiB > 0)
        {
            var bytes = spec.Limits.MemoryGiB * (1L << 30);
            hostConfig["Memory"] = bytes;
            hostConfig["MemorySwap"] = bytes; // no swap on top of the quota
        }
        if (_options.RequestGpus && spec.Gpus.Count > 0)
        {
            hostConfig["DeviceRequests"] = new JsonArray
            {
                new JsonObject
                {
                    ["Driver"] = _options.GpuDriver,
                    ["DeviceIDs"] = new JsonArray([.. gpuIds.Select(id => (JsonNode?)JsonValue.Create(id))]),
                    ["Capabilities"] = new JsonArray { new JsonArray { "gpu" } },
                },
            };
        }

        var definition = new JsonObject
        {
            ["Image"] = image,
            ["Labels"] = labels,
            ["Env"] = new JsonArray([.. environment.Select(e => (JsonNode?)JsonValue.Create($"{e.Key}={e.Value}"))]),
            ["WorkingDir"] = _options.ContainerHome,
            ["ExposedPorts"] = new JsonObject { [PortKey] = new JsonObject() },
            ["Tty"] = false,
            ["OpenStdin"] = false,
            ["HostConfig"] = hostConfig,
        };
        if (_options.Command.Count > 0)
        {
            definition["Cmd"] = new JsonArray([.. _options.Command.Select(c => (JsonNode?)JsonValue.Create(c))]);
        }
        return definition;
    }

    private HttpClient Client() => _clients.CreateClient(HttpClientName);

    private ServerRef Reference(Username user, string id) => new(Name, user, id);

    private string ContainerName(Username user) => _options.ContainerNamePrefix + user.Value;

    private string HomeOf(Username user) => Path.GetFullPath(Path.Combine(_options.HomeRoot, user.Value));

    private Username Own(ServerRef server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.Backend == Name
            ? server.Username
            : throw new ArgumentException($"The server belongs to the backend '{server.Backend}', not '{Name}'.", nameof(server));
    }

    private static bool IsContainerId(string reference) => ContainerId().IsMatch(reference);

    private static bool IsOf(Dictionary<string, string>? labels, Username user) =>
        labels is not null && labels.TryGetValue(UserLabel, out var owner) && owner == user.Value;

    /// <summary>
    /// The user's container that is this server as the spec wants it (created, running or restarting; same server
    /// record, same image), or null; every other container of the user is removed on the way.
    /// </summary>
    private async Task<ContainerSummary?> AdoptOrClearAsync(HttpClient client, ServerSpec spec, string image, CancellationToken cancellationToken)
    {
        ContainerSummary? adopted = null;
        foreach (var container in await ListAsync(client, spec.Username, cancellationToken))
        {
            var labels = container.Labels ?? [];
            var matches = labels.GetValueOrDefault(ServerIdLabel) == spec.ServerId.ToString()
                && labels.GetValueOrDefault(ImageLabel) == image
                && container.State is "created" or "running" or "restarting";
            if (matches && adopted is null)
            {
                adopted = container;
                continue;
            }
            if (container.State is "removing")
            {
                continue; // on its way out; its name is free once it is gone
            }
            LogReplacing(_logger, spec.Username.Value, container.Id, container.State ?? "?", labels.GetValueOrDefault(ImageLabel) ?? "?");
            await RemoveAsync(client, container.Id, cancellationToken);
        }
        return adopted;
    }

    /// <summary>Creates the container: its id; or a refusal; or neither when the name is taken by a container of the user (409).</summary>
    private async Task<(string? Id, string? Refusal)> CreateAsync(HttpClient client, ServerSpec spec, string image, CancellationToken cancellationToken)
    {
        var token = RandomNumberGenerator.GetHexString(64, lowercase: true);
        var name = ContainerName(spec.Username);
        using var body = new StringContent(ContainerDefinition(spec, image, token).ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await client.PostAsync($"containers/create?name={Uri.EscapeDataString(name)}", body, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Created)
        {
            var created = await ReadAsync<CreatedModel>(response, cancellationToken);
            if (created?.Id is not { Length: > 0 } id)
            {
                throw new DockerException($"Docker created the container {name} but did not say its id.");
            }
            LogCreated(_logger, spec.Username.Value, id, image);
            return (id, null);
        }
        if (response.StatusCode is HttpStatusCode.Conflict)
        {
            // Ours (another start won the race): the caller looks again. Not ours: the name is taken for good.
            return await InspectAsync(client, name, cancellationToken) is { } holder && !IsOf(holder.Config?.Labels, spec.Username)
                ? (null, $"The container name {name} is taken by a container that is not the portal's.")
                : (null, null);
        }
        if (response.StatusCode is HttpStatusCode.NotFound)
        {
            return (null, $"The image {image} is not on this node: {await MessageAsync(response, cancellationToken)}");
        }
        if (response.StatusCode is HttpStatusCode.BadRequest)
        {
            return (null, $"Docker refused the container: {await MessageAsync(response, cancellationToken)}");
        }
        throw await FailureAsync(response, $"create the container {name}", cancellationToken);
    }

    /// <summary>The answer to a start that found the container running: ready when the server answers.</summary>
    private async Task<StartResult> StartedAsync(HttpClient client, Username user, string id, CancellationToken cancellationToken)
    {
        var reference = Reference(user, id);
        return await InspectAsync(client, id, cancellationToken) is { } container
            && await StatusAsync(client, container, cancellationToken) is ServerStatus.Running running
            ? new StartResult.Ready(reference, running.Url)
            : new StartResult.Pending(reference);
    }

    /// <summary>The container a reference names (its id), or the user's container when the reference is no id; only the user's.</summary>
    private async Task<ContainerModel?> FindAsync(HttpClient client, Username user, string reference, CancellationToken cancellationToken)
    {
        if (IsContainerId(reference))
        {
            return await InspectAsync(client, reference, cancellationToken) is { } container && IsOf(container.Config?.Labels, user)
                ? container
                : null;
        }
        var containers = await ListAsync(client, user, cancellationToken);
        var live = containers.FirstOrDefault(c => c.State is "created" or "running" or "restarting") ?? containers.FirstOrDefault();
        return live is null ? null : await InspectAsync(client, live.Id, cancellationToken);
    }

    /// <summary>What a container says about the server in it.</summary>
    private async Task<ServerStatus> StatusAsync(HttpClient client, ContainerModel container, CancellationToken cancellationToken)
    {
        var state = container.State;
        switch (state?.Status)
        {
            case "running":
                var since = JupyterStatusProbe.ParseTime(state.StartedAt);
                if (Endpoint(container) is not { } endpoint || TokenOf(container) is not { } token)
                {
                    return TimedOut(since)
                        ? new ServerStatus.Failed("The container runs but Docker published no port for the server.")
                        : new ServerStatus.Starting(Stages[1].Percent, Stages[1].Message);
                }
                if (await ProbeAsync(endpoint, token, cancellationToken) is { } status)
                {
                    return new ServerStatus.Running(UserUrl(endpoint.Port, token), status.LastActivity);
                }
                return TimedOut(since)
                    ? new ServerStatus.Failed(
                        $"The server did not answer on port {endpoint.Port.ToString(CultureInfo.InvariantCulture)} within {_options.StartTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s.")
                    : new ServerStatus.Starting(Stages[2].Percent, Stages[2].Message);
            case "created":
                return TimedOut(JupyterStatusProbe.ParseTime(container.Created))
                    ? new ServerStatus.Failed("The container was created but never started.")
                    : new ServerStatus.Starting(Stages[0].Percent, Stages[0].Message);
            case "restarting":
                return new ServerStatus.Starting(Stages[1].Percent, "The container is restarting.");
            case "removing":
                return new ServerStatus.Stopping();
            case "paused":
                return new ServerStatus.Failed("The container is paused.");
            default:
                return new ServerStatus.Stopped(await ExitReasonAsync(client, container, cancellationToken));
        }
    }

    private bool TimedOut(DateTimeOffset? since) => since is { } start && _clock.GetUtcNow() - start > StartTimeout;

    /// <summary>Why a container ended: its exit code, and the last lines it wrote (token blanked out).</summary>
    private async Task<string> ExitReasonAsync(HttpClient client, ContainerModel container, CancellationToken cancellationToken)
    {
        var state = container.State;
        var reason = new StringBuilder(
            string.Create(CultureInfo.InvariantCulture, $"The container exited with code {state?.ExitCode ?? 0}."));
        if (state?.OOMKilled == true)
        {
            reason.Append(" It ran out of memory.");
        }
        if (state?.Error is { Length: > 0 } error)
        {
            reason.Append(CultureInfo.InvariantCulture, $" {error}");
        }
        var tail = await LogTailAsync(client, container.Id, cancellationToken);
        if (TokenOf(container) is { } token)
        {
            tail = tail.Replace(token, "…", StringComparison.Ordinal);
        }
        if (tail.Length > 0)
        {
            reason.Append('\n').Append(tail);
        }
        var text = reason.ToString();
        return text.Length <= MaxMessageLength ? text : text[..MaxMessageLength] + "…";
    }

    /// <summary>The last <see cref="LogLines"/> lines of the container's output (stdout and stderr), or empty.</summary>
    private static async Task<string> LogTailAsync(HttpClient client, string id, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(
            $"containers/{id}/logs?stdout=1&stderr=1&tail={LogLines.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return "";
        }
        var text = Demultiplex(await response.Content.ReadAsByteArrayAsync(cancellationToken));
        return string.Join('\n', text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).TakeLast(LogLines));
    }

    /// <summary>
    /// The text of a log stream: without a TTY Docker sends frames (1 byte stream, 3 zero bytes, a big-endian 32-bit
    /// length, the payload); anything else is taken as plain text.
    /// </summary>
    private static string Demultiplex(byte[] data)
    {
        var text = new StringBuilder();
        var offset = 0;
        while (offset + 8 <= data.Length && data[offset] <= 2 && data[offset + 1] == 0 && data[offset + 2] == 0 && data[offset + 3] == 0)
        {
            var size = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(offset + 4, 4));
            if (size > (uint)(data.Length - offset - 8))
            {
                break;
            }
            text.Append(Encoding.UTF8.GetString(data, offset + 8, (int)size));
            offset += 8 + (int)size;
        }
        return offset == 0 && data.Length > 0 ? Encoding.UTF8.GetString(data) : text.ToString();
    }

    /// <summary>Where the server's port is published, as the portal reaches it.</summary>
    private (IPAddress Address, int Port)? Endpoint(ContainerModel container)
    {
        if (container.NetworkSettings?.Ports is not { } ports || !ports.TryGetValue(PortKey, out var bindings) || bindings is null)
        {
            return null;
        }
        foreach (var binding in bindings)
        {
            if (int.TryParse(binding.HostPort, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port > 0)
            {
                var address = IPAddress.TryParse(binding.HostIp, out var parsed) && !parsed.Equals(IPAddress.Any) && !parsed.Equals(IPAddress.IPv6Any)
                    ? parsed
                    : IPAddress.Loopback;
                return (address, port);
            }
        }
        return null;
    }

    private static string? TokenOf(ContainerModel container) =>
        container.Config?.Env?.FirstOrDefault(e => e.StartsWith(TokenVariable + "=", StringComparison.Ordinal)) is { } entry
            ? entry[(TokenVariable.Length + 1)..]
            : null;

    private Uri UserUrl(int port, string token) =>
        new($"http://{_options.BaseUrlHost}:{port.ToString(CultureInfo.InvariantCulture)}/?token={Uri.EscapeDataString(token)}");

    /// <summary><c>/api/status</c> of the server when it answers 200, else null.</summary>
    private Task<JupyterStatus?> ProbeAsync((IPAddress Address, int Port) endpoint, string token, CancellationToken cancellationToken) =>
        JupyterStatusProbe.AskAsync(_http, new UriBuilder("http", endpoint.Address.ToString(), endpoint.Port, "/").Uri, token, cancellationToken);


    /// <summary>The user's containers (any state), by label.</summary>
    private static async Task<IReadOnlyList<ContainerSummary>> ListAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        var filters = JsonSerializer.Serialize(new Dictionary<string, string[]> { ["label"] = [$"{UserLabel}={user.Value}"] });
        using var response = await client.GetAsync($"containers/json?all=1&filters={Uri.EscapeDataString(filters)}", cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await FailureAsync(response, $"list the containers of {user}", cancellationToken);
        }
        var containers = await ReadAsync<List<ContainerSummary>>(response, cancellationToken) ?? [];
        return [.. containers.Where(c => c.Id is { Length: > 0 } && IsOf(c.Labels, user))];
    }

    /// <summary><c>GET /containers/{id}/json</c>; null when there is no such container.</summary>
    private static async Task<ContainerModel?> InspectAsync(HttpClient client, string idOrName, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync($"containers/{Uri.EscapeDataString(idOrName)}/json", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await FailureAsync(response, $"inspect the container {idOrName}", cancellationToken);
        }
        return await ReadAsync<ContainerModel>(response, cancellationToken);
    }

    /// <summary>Removes a container, running or not (and its anonymous volumes); gone already is fine.</summary>
    private async Task RemoveAsync(HttpClient client, string id, CancellationToken cancellationToken)
    {
        var deadline = _clock.GetUtcNow() + TimeSpan.FromSeconds(_options.RequestTimeoutSeconds);
        while (true)
        {
            using var response = await client.DeleteAsync($"containers/{id}?force=1&v=1", cancellationToken);
            if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotFound)
            {
                return;
            }
            // 409: a removal of it is already under way; it is done when the container is gone.
            if (response.StatusCode is not HttpStatusCode.Conflict || _clock.GetUtcNow() > deadline)
            {
                throw await FailureAsync(response, $"remove the container {id}", cancellationToken);
            }
            await Task.Delay(RetryDelay, _clock, cancellationToken);
        }
    }

    private static async Task<T?> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            return await JsonSerializer.DeserializeAsync<T>(stream, Json, cancellationToken);
        }
        catch (JsonException e)
        {
            throw new DockerException($"Docker answered {(int)response.StatusCode} with something that is not the JSON expected.", response.StatusCode, e);
        }
    }

    /// <summary>Docker's <c>message</c> from an error answer, else the status.</summary>
    private static async Task<string> MessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        string? message = null;
        try
        {
            message = JsonSerializer.Deserialize<ErrorModel>(text, Json)?.Message;
        }
        catch (JsonException)
        {
            message = text;
        }
        message = string.IsNullOrWhiteSpace(message) ? $"{(int)response.StatusCode} {response.ReasonPhrase}" : message.Trim();
        return message.Length <= MaxMessageLength ? message : message[..MaxMessageLength] + "…";
    }

    private static async Task<DockerException> FailureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken) =>
        new($"Docker answered {(int)response.StatusCode} when asked to {what}: {await MessageAsync(response, cancellationToken)}", response.StatusCode);

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ToolkitVersion();

    [GeneratedRegex(@"^[0-9a-f]{64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ContainerId();

    [LoggerMessage(Level = LogLevel.Information, Message = "Created the container {Id} of {Username} from {Image}")]
    private static partial void LogCreated(ILogger logger, string username, string id, string image);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started the container {Id} of {Username} ({Image})")]
    private static partial void LogStarted(ILogger logger, string username, string id, string image);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removing the container {Id} of {Username} ({State}, image {Image}): it is not the server to start")]
    private static partial void LogReplacing(ILogger logger, string username, string id, string state, string image);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Docker refused the server of {Username} ({Image}): {Message}")]
    private static partial void LogStartRefused(ILogger logger, string username, string image, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Docker answered {Status} to stopping the container {Id} of {Username}: {Message}; removing it by force")]
    private static partial void LogStopAnswered(ILogger logger, string username, string id, int status, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The container {Id} is not one of {Username}'s; left alone")]
    private static partial void LogNotOurs(ILogger logger, string username, string id);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped the server of {Username} ({Count} containers removed)")]
    private static partial void LogStopped(ILogger logger, string username, int count);


    private sealed record ErrorModel(string? Message);

    private sealed record CreatedModel(string? Id);

    private sealed record ContainerSummary(string Id, string? State, Dictionary<string, string>? Labels);

    private sealed record ContainerModel(string Id, string? Created, ContainerStateModel? State, ContainerConfigModel? Config, NetworkSettingsModel? NetworkSettings);

    private sealed record ContainerStateModel(string? Status, int ExitCode, bool OOMKilled, string? Error, string? StartedAt);

    private sealed record ContainerConfigModel(IReadOnlyList<string>? Env, Dictionary<string, string>? Labels);

    private sealed record NetworkSettingsModel(Dictionary<string, List<PortBindingModel>?>? Ports);

    private sealed record PortBindingModel(string? HostIp, string? HostPort);
}
