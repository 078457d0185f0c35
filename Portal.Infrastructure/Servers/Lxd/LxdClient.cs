using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Infrastructure.Servers.Lxd;

/// <summary>
/// LXD's REST API (<c>/1.0</c>) over its unix socket, without an SDK: requests in one project, LXD's answer envelope
/// (<c>sync</c>, <c>async</c> with an operation, <c>error</c>) and waiting for operations
/// (<c>/1.0/operations/ID/wait?timeout=N</c>). Errors of LXD are answers here (<see cref="LxdResponse.IsError"/>);
/// only a failed connection or a timeout throws.
/// </summary>
public sealed class LxdClient(HttpClient http, string project, TimeSpan requestTimeout)
{
    /// <summary>The host name of every request: the socket decides where it goes.</summary>
    public static readonly Uri BaseAddress = new("http://lxd/");

    /// <summary>A handler that connects every request to LXD's unix socket.</summary>
    public static SocketsHttpHandler CreateHandler(string socketPath) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public Task<LxdResponse> GetAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, null, cancellationToken);

    /// <summary>One request; <paramref name="path"/> is absolute (<c>/1.0/…</c>), the project is added.</summary>
    public async Task<LxdResponse> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken,
        TimeSpan? extraTime = null)
    {
        using var request = new HttpRequestMessage(method, Address(path));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(requestTimeout + (extraTime ?? TimeSpan.Zero));
        try
        {
            using var response = await http.SendAsync(request, bounded.Token);
            var text = await response.Content.ReadAsStringAsync(bounded.Token);
            return LxdResponse.Parse(response.StatusCode, text);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LxdException($"LXD did not answer {method} {path} within {(requestTimeout + (extraTime ?? TimeSpan.Zero)).TotalSeconds:F0} s.", inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new LxdException($"LXD could not be reached for {method} {path}: {e.Message}", inner: e);
        }
    }

    /// <summary>A raw answer (a console log, the output of an exec), or null for an error answer.</summary>
    public async Task<string?> GetTextAsync(string path, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(requestTimeout);
        try
        {
            using var response = await http.GetAsync(Address(path), bounded.Token);
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(bounded.Token) : null;
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LxdException($"LXD did not answer GET {path} within {requestTimeout.TotalSeconds:F0} s.", inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new LxdException($"LXD could not be reached for GET {path}: {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the operation of an <c>async</c> answer. A <c>sync</c> answer is a
    /// finished success; an <c>error</c> answer a failure with LXD's message.
    /// </summary>
    public async Task<LxdOperation> WaitAsync(LxdResponse response, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.IsError)
        {
            return new LxdOperation("", (int)LxdStatus.Failure, response.Error, default);
        }
        return response.Operation is { Length: > 0 } operation
            ? await WaitAsync(operation, timeout, cancellationToken)
            : new LxdOperation("", (int)LxdStatus.Success, "", response.Metadata);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for an operation (<c>/1.0/operations/ID</c>).</summary>
    public async Task<LxdOperation> WaitAsync(string operation, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(operation);
        var seconds = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds));
        var waited = await SendAsync(HttpMethod.Get, $"{operation.Split('?')[0]}/wait?timeout={seconds.ToString(CultureInfo.InvariantCulture)}",
            null, cancellationToken, TimeSpan.FromSeconds(seconds));
        if (waited.IsError)
        {
            // 404: the operation ended a while ago and LXD has forgotten it; the caller looks at the result instead.
            return new LxdOperation(operation, waited.ErrorCode == (int)HttpStatusCode.NotFound ? (int)LxdStatus.Unknown : (int)LxdStatus.Failure,
                waited.Error, default);
        }
        var metadata = waited.Metadata;
        return new LxdOperation(
            operation,
            metadata.TryGetProperty("status_code", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : (int)LxdStatus.Unknown,
            metadata.TryGetProperty("err", out var err) && err.ValueKind == JsonValueKind.String ? err.GetString() ?? "" : "",
            metadata.TryGetProperty("metadata", out var inner) ? inner : default);
    }

    /// <summary>A request that LXD answers with an operation, and the wait for it.</summary>
    public async Task<LxdOperation> RunAsync(HttpMethod method, string path, JsonNode? body, TimeSpan timeout, CancellationToken cancellationToken) =>
        await WaitAsync(await SendAsync(method, path, body, cancellationToken), timeout, cancellationToken);

    private Uri Address(string path)
    {
        if (project == "default" || path.Contains("project=", StringComparison.Ordinal))
        {
            return new Uri(BaseAddress, path);
        }
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return new Uri(BaseAddress, $"{path}{separator}project={Uri.EscapeDataString(project)}");
    }
}

/// <summary>LXD's status codes (of operations and instances) that the backend tells apart.</summary>
public enum LxdStatus
{
    Unknown = 0,
    OperationCreated = 100,
    Started = 101,
    Stopped = 102,
    Running = 103,
    Cancelling = 104,
    Pending = 105,
    Starting = 106,
    Stopping = 107,
    Aborting = 108,
    Freezing = 109,
    Frozen = 110,
    Thawed = 111,
    Error = 112,
    Ready = 113,
    Success = 200,
    Failure = 400,
    Cancelled = 401,
}

/// <summary>LXD's answer envelope: <c>{"type", "status_code", "error_code", "error", "operation", "metadata"}</c>.</summary>
public sealed record LxdResponse(HttpStatusCode HttpStatus, string Type, int ErrorCode, string Error, string? Operation, JsonElement Metadata)
{
    public bool IsError => Type == "error" || (int)HttpStatus >= 400;

    public bool IsNotFound => IsError && (ErrorCode == (int)HttpStatusCode.NotFound || HttpStatus == HttpStatusCode.NotFound);

    public static LxdResponse Parse(HttpStatusCode status, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            return new LxdResponse(
                status,
                String(root, "type") ?? "",
                root.TryGetProperty("error_code", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : (int)status,
                String(root, "error") ?? "",
                String(root, "operation"),
                root.TryGetProperty("metadata", out var metadata) ? metadata.Clone() : default);
        }
        catch (JsonException)
        {
            var message = text.Length <= 300 ? text : text[..300] + "…";
            return new LxdResponse(status, "error", (int)status, $"{(int)status} {message}".Trim(), null, default);
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>An operation after waiting: its status code (200 success, 103 still running, 400 failure), error and metadata.</summary>
public sealed record LxdOperation(string Operation, int StatusCode, string Error, JsonElement Metadata)
{
    public bool Succeeded => StatusCode == (int)LxdStatus.Success;

    public bool Running => StatusCode is (int)LxdStatus.Running or (int)LxdStatus.Pending or (int)LxdStatus.OperationCreated;
}
