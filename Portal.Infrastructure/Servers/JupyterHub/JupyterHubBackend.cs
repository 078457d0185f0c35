using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.JupyterHub;

/// <summary>
/// Users' servers as the default servers of JupyterHub users, through the hub's REST API (JupyterHub 3.x) as the hub
/// service the portal is (see <see cref="JupyterHubOptions"/>). The hub user has the portal's username, which is
/// also <see cref="ServerRef.Reference"/>; the hub creates it on first start.
/// </summary>
/// <remarks>
/// <para><b>Start.</b> <c>POST /users/NAME/server</c> with <c>user_options</c> <c>{"cuda", "gpus", "cpu", "mem_gib"}</c>
/// (the hub's <c>pre_spawn_hook</c> turns them into the server's environment). 201 is <see cref="StartResult.Ready"/>,
/// 202 <see cref="StartResult.Pending"/>; an unknown user is created and the start repeated; 429 (too many spawns at
/// once) is retried after the hub's <c>Retry-After</c> (else an exponential delay with jitter) until
/// <see cref="StartTimeout"/>, then <see cref="StartResult.Refused"/>. Any other answer is judged by what the hub says
/// about the server right after: running is Ready, spawning is Pending, stopping is waited for and the start repeated.
/// When nothing runs, a 400 or 500 (the spawn failed at once, e.g. a bad option) is
/// <see cref="StartResult.Refused"/> with the hub's message, and nothing is left running.</para>
/// <para><b>Failures of the hub itself</b> (no connection, 401/403 for a wrong token or missing scopes, 502/503/504
/// from its proxy, other unexpected answers) throw <see cref="JupyterHubException"/> or
/// <see cref="HttpRequestException"/>: they say nothing about the request, and the job retries.</para>
/// <para><b>Links.</b> The URLs returned (<see cref="StartResult.Ready"/>, <see cref="ServerStatus.Running"/>, the
/// ready <see cref="ProgressEvent"/>) are the hub's public address plus the server's path. With
/// <see cref="JupyterHubOptions.OpenLinkTokens"/> they carry <c>?token=…</c>, a token of that user limited to
/// <c>access:servers!user=NAME</c> and <see cref="JupyterHubOptions.OpenLinkTokenLifetimeSeconds"/>: <b>that token
/// lands in the URL the portal stores and shows</b> to the user (whose server it opens, and nothing else). It is
/// reused while more than half its lifetime is left, revoked on stop, and never logged.</para>
/// <para><see cref="PollAsync"/> reports a spawn that failed (the hub keeps its message until the next start) as
/// <see cref="ServerStatus.Failed"/>.</para>
/// </remarks>
public sealed partial class JupyterHubBackend : ISpawnerBackend
{
    public const string BackendName = "jupyterhub";

    /// <summary>The named <see cref="HttpClient"/> (base address <c>{BaseUrl}hub/api/</c>, the service token).</summary>
    public const string HttpClientName = "JupyterHub";

    private const string OpenLinkNote = "portal: open link";
    private const int MaxMessageLength = 500;

    /// <summary>
    /// Answers that contradict the hub's state (a 400 "already running" with nothing running, a 404 for a user just
    /// created) are retried this often at most.
    /// </summary>
    private const int MaxInconsistentAnswers = 3;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly IHttpClientFactory _clients;
    private readonly JupyterHubOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<JupyterHubBackend> _logger;
    private readonly Uri _publicBase;

    /// <summary>The open-link token of each user, as minted by this instance.</summary>
    private readonly ConcurrentDictionary<string, OpenLinkToken> _openLinkTokens = new(StringComparer.Ordinal);

    public JupyterHubBackend(IHttpClientFactory clients, IOptions<JupyterHubOptions> options, TimeProvider clock, ILogger<JupyterHubBackend> logger)
    {
        _clients = clients;
        _options = options.Value;
        _clock = clock;
        _logger = logger;
        _publicBase = WithTrailingSlash(_options.PublicBaseUrl is { Length: > 0 } publicUrl ? publicUrl : _options.BaseUrl);
    }

    public string Name => BackendName;

    public TimeSpan StartTimeout => TimeSpan.FromSeconds(_options.StartTimeoutSeconds);

    private TimeSpan StopTimeout => TimeSpan.FromSeconds(_options.StopTimeoutSeconds);

    private TimeSpan PollInterval => TimeSpan.FromMilliseconds(_options.PollIntervalMilliseconds);

    /// <summary>The REST API's address for a base URL: <c>{baseUrl}hub/api/</c>.</summary>
    public static Uri ApiBase(string baseUrl) => new(WithTrailingSlash(baseUrl), "hub/api/");

    public async Task<StartResult> StartAsync(ServerSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var user = spec.Username;
        var server = Reference(user);
        var deadline = _clock.GetUtcNow() + StartTimeout;
        var options = new UserOptions(
            spec.CudaToolkit,
            string.Join(',', spec.Gpus.Select(g => g.Index.ToString(CultureInfo.InvariantCulture))),
            spec.Limits.CpuCores,
            spec.Limits.MemoryGiB);
        var client = Client();
        var throttled = 0;
        var inconsistent = 0;
        while (true)
        {
            using var response = await client.PostAsJsonAsync($"{UserPath(user)}/server", options, Json, cancellationToken);
            if (response.StatusCode is HttpStatusCode.Created)
            {
                LogStartAnswered(_logger, user.Value, 201);
                return await StartedAsync(user, server, cancellationToken);
            }
            if (response.StatusCode is HttpStatusCode.Accepted)
            {
                LogStartAnswered(_logger, user.Value, 202);
                return new StartResult.Pending(server);
            }
            if (response.StatusCode is HttpStatusCode.NotFound)
            {
                // No such hub user yet (or deleted meanwhile): create it and start again.
                if (++inconsistent > MaxInconsistentAnswers)
                {
                    throw await FailureAsync(response, $"start the server of {user} (the user was created)", cancellationToken);
                }
                await CreateUserAsync(client, user, cancellationToken);
                continue;
            }
            if (response.StatusCode is HttpStatusCode.TooManyRequests)
            {
                var message = await MessageAsync(response, cancellationToken);
                var delay = RetryDelay(response, ++throttled);
                if (_clock.GetUtcNow() + delay > deadline)
                {
                    LogStartGaveUp(_logger, user.Value, throttled, message);
                    return new StartResult.Refused($"JupyterHub is busy: {message}");
                }
                LogStartThrottled(_logger, user.Value, delay.TotalSeconds);
                await Task.Delay(delay, _clock, cancellationToken);
                continue;
            }
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw await FailureAsync(response, $"start the server of {user}", cancellationToken);
            }

            // 400 (already running, pending stop), 500 (the spawn failed at once) or something else: the server's state
            // decides what it means.
            var answer = await MessageAsync(response, cancellationToken);
            var status = await StatusAsync(client, user, cancellationToken);
            switch (status)
            {
                case ServerStatus.Running running:
                    return new StartResult.Ready(server, await OpenLinkAsync(client, user, running.Url, cancellationToken));
                case ServerStatus.Starting:
                    return new StartResult.Pending(server);
                case ServerStatus.Stopping:
                    await WaitForAsync(client, user, s => s is not ServerStatus.Stopping, deadline, "stop before the start", cancellationToken);
                    continue;
                case ServerStatus.Stopped or ServerStatus.Failed:
                    if (response.StatusCode is HttpStatusCode.BadRequest && ++inconsistent < MaxInconsistentAnswers)
                    {
                        // "already running" about a server that has just ended: ask again.
                        await Task.Delay(PollInterval, _clock, cancellationToken);
                        continue;
                    }
                    if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.InternalServerError)
                    {
                        // The hub's own answer to a failed spawn is "Spawner failed to start [status=…]"; the reason
                        // (e.g. the pre_spawn_hook's message) is what the failed spawn left behind.
                        var reason = status is ServerStatus.Failed failed ? failed.Reason : answer;
                        LogStartRefused(_logger, user.Value, (int)response.StatusCode, reason);
                        return new StartResult.Refused(reason);
                    }
                    throw new JupyterHubException(
                        $"JupyterHub answered {(int)response.StatusCode} to the start of {user}'s server: {answer}", response.StatusCode);
                default:
                    throw new InvalidOperationException($"Unknown status {status.GetType().Name}.");
            }
        }
    }

    public async Task StopAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var user = HubUser(server);
        var client = Client();
        var deadline = _clock.GetUtcNow() + StopTimeout;
        var refusals = 0;
        while (true)
        {
            using var response = await client.DeleteAsync($"{UserPath(user)}/server", cancellationToken);
            if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.Accepted)
            {
                break;
            }
            if (response.StatusCode is not HttpStatusCode.BadRequest)
            {
                // JupyterHub 3.0 answers 500 rather than 404 for a user it does not know: nothing was ever started.
                if (response.StatusCode is HttpStatusCode.NotFound || await GetUserAsync(client, user, cancellationToken) is null)
                {
                    _openLinkTokens.TryRemove(user.Value, out _);
                    return;
                }
                throw await FailureAsync(response, $"stop the server of {user}", cancellationToken);
            }
            if (++refusals > MaxInconsistentAnswers)
            {
                throw await FailureAsync(response, $"stop the server of {user}", cancellationToken);
            }
            // "pending spawn, please wait": the hub cannot cancel a spawn; let it end (ready or failed), then stop it.
            await WaitForAsync(client, user, s => s is not ServerStatus.Starting, deadline, "spawn to end before the stop", cancellationToken);
        }
        await WaitForAsync(client, user, s => s is ServerStatus.Stopped or ServerStatus.Failed, deadline, "stop", cancellationToken);
        await RevokeOpenLinkAsync(client, user, cancellationToken);
        LogStopped(_logger, user.Value);
    }

    public async Task<ServerStatus> PollAsync(ServerRef server, CancellationToken cancellationToken)
    {
        var user = HubUser(server);
        var client = Client();
        var status = await StatusAsync(client, user, cancellationToken);
        return status is ServerStatus.Running running
            ? running with { Url = await OpenLinkAsync(client, user, running.Url, cancellationToken) }
            : status;
    }

    public async IAsyncEnumerable<ProgressEvent> ProgressAsync(ServerRef server, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var user = HubUser(server);
        var client = Client();
        // A spawn ends (ready or failed) within the hub's own start timeout; never follow a stream for longer.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(StartTimeout + TimeSpan.FromSeconds(_options.RequestTimeoutSeconds));
        using var response = await OpenProgressAsync(client, user, bounded.Token);
        if (response is null)
        {
            yield break;
        }
        await using var stream = await response.Content.ReadAsStreamAsync(bounded.Token);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(bounded.Token) is { } line)
        {
            if (ParseEvent(line) is not { } hubEvent)
            {
                continue;
            }
            var url = hubEvent.Ready && hubEvent.Url is { Length: > 0 } path
                ? await OpenLinkAsync(client, user, new Uri(_publicBase, path), bounded.Token)
                : null;
            yield return new ProgressEvent(Percent(hubEvent), hubEvent.Message ?? "", hubEvent.Ready, hubEvent.Failed, url);
            if (hubEvent.Ready || hubEvent.Failed)
            {
                yield break;
            }
        }
    }

    private HttpClient Client() => _clients.CreateClient(HttpClientName);

    private ServerRef Reference(Username user) => new(Name, user, user.Value);

    /// <summary>The hub user of a server: its reference, which is a username (validated again: it becomes part of a URL).</summary>
    private static Username HubUser(ServerRef server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return Username.TryParse(server.Reference, out var user)
            ? user
            : throw new ArgumentException($"'{server.Reference}' is not a JupyterHub user of the portal.", nameof(server));
    }

    private static string UserPath(Username user) => $"users/{Uri.EscapeDataString(user.Value)}";

    private async Task<StartResult> StartedAsync(Username user, ServerRef server, CancellationToken cancellationToken)
    {
        var client = Client();
        return Observe(await GetUserAsync(client, user, cancellationToken)) is ServerStatus.Running running
            ? new StartResult.Ready(server, await OpenLinkAsync(client, user, running.Url, cancellationToken))
            : new StartResult.Pending(server);
    }

    private static async Task CreateUserAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        using var response = await client.PostAsync(UserPath(user), content: null, cancellationToken);
        // 409: created meanwhile by another start; just as good.
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.Conflict))
        {
            throw await FailureAsync(response, $"create the JupyterHub user {user}", cancellationToken);
        }
    }

    /// <summary>The hub's model of the user, or null when the hub has no such user.</summary>
    private static async Task<HubUserModel?> GetUserAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(UserPath(user), cancellationToken);
        if (response.StatusCode is HttpStatusCode.NotFound)
        {
            return null;
        }
        if (!response.IsSuccessStatusCode)
        {
            throw await FailureAsync(response, $"read the JupyterHub user {user}", cancellationToken);
        }
        return await response.Content.ReadFromJsonAsync<HubUserModel>(Json, cancellationToken)
            ?? throw new JupyterHubException($"JupyterHub sent an empty answer for the user {user}.");
    }

    /// <summary>
    /// The server's state: the hub's user model, and for a server that is not there what the hub still knows about the
    /// last spawn (its failure, until the next start).
    /// </summary>
    private async Task<ServerStatus> StatusAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        var hubUser = await GetUserAsync(client, user, cancellationToken);
        var status = Observe(hubUser);
        return status is ServerStatus.Stopped && hubUser is not null
            ? await LastSpawnAsync(client, user, cancellationToken) ?? status
            : status;
    }

    /// <summary>The default server's state as the hub's user model shows it (a failed spawn looks <see cref="ServerStatus.Stopped"/> here).</summary>
    private ServerStatus Observe(HubUserModel? hubUser)
    {
        if (hubUser?.Servers is null || !hubUser.Servers.TryGetValue("", out var hubServer))
        {
            return new ServerStatus.Stopped(null);
        }
        return hubServer switch
        {
            { Pending: "stop" } => new ServerStatus.Stopping(),
            { Pending: "spawn" } => new ServerStatus.Starting(null, null),
            { Pending: { } other } => new ServerStatus.Starting(null, $"JupyterHub: pending {other}"),
            { Ready: true, Url: { Length: > 0 } path } => new ServerStatus.Running(new Uri(_publicBase, path), hubServer.LastActivity),
            _ => new ServerStatus.Starting(null, null),
        };
    }

    private async Task WaitForAsync(
        HttpClient client, Username user, Func<ServerStatus, bool> condition, DateTimeOffset deadline, string what, CancellationToken cancellationToken)
    {
        while (!condition(Observe(await GetUserAsync(client, user, cancellationToken))))
        {
            if (_clock.GetUtcNow() >= deadline)
            {
                throw new TimeoutException($"JupyterHub: timed out waiting for the {what} of {user}'s server.");
            }
            await Task.Delay(PollInterval, _clock, cancellationToken);
        }
    }

    /// <summary>
    /// The progress stream, or null when there is nothing to follow (400: not starting; 404: no such user or server).
    /// </summary>
    private static async Task<HttpResponseMessage?> OpenProgressAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{UserPath(user)}/server/progress");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound)
        {
            response.Dispose();
            return null;
        }
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                throw await FailureAsync(response, $"follow the start of {user}'s server", cancellationToken);
            }
        }
        return response;
    }

    /// <summary>
    /// What the hub's progress stream says first about a server that is not in the user's model: the failure of the
    /// last spawn (kept by the hub until the next start), a spawn that has begun meanwhile, or nothing (null).
    /// </summary>
    private async Task<ServerStatus?> LastSpawnAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds));
        using var response = await OpenProgressAsync(client, user, bounded.Token);
        if (response is null)
        {
            return null;
        }
        await using var stream = await response.Content.ReadAsStreamAsync(bounded.Token);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(bounded.Token) is { } line)
        {
            if (ParseEvent(line) is not { } hubEvent)
            {
                continue;
            }
            return hubEvent switch
            {
                { Failed: true } => new ServerStatus.Failed(hubEvent.Message is { Length: > 0 } reason ? reason : "The spawn failed."),
                // Began (or even finished) between the two requests: the next poll sees it in the model.
                _ => new ServerStatus.Starting(Percent(hubEvent), hubEvent.Message),
            };
        }
        return null;
    }

    /// <summary>A <c>data: {...}</c> line of the event stream; null for keep-alives and anything else.</summary>
    private static HubProgressEvent? ParseEvent(string line)
    {
        if (!line.StartsWith("data:", StringComparison.Ordinal))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<HubProgressEvent>(line.AsSpan(5).Trim(), Json);
        }
        catch (JsonException e)
        {
            throw new JupyterHubException("JupyterHub sent a progress event that is not JSON.", inner: e);
        }
    }

    private static int Percent(HubProgressEvent hubEvent) => (int)Math.Clamp(Math.Round(hubEvent.Progress ?? 0), 0, 100);

    /// <summary>The link that opens the server: with a token of the user when <see cref="JupyterHubOptions.OpenLinkTokens"/>.</summary>
    private async Task<Uri> OpenLinkAsync(HttpClient client, Username user, Uri serverUrl, CancellationToken cancellationToken)
    {
        if (!_options.OpenLinkTokens)
        {
            return serverUrl;
        }
        var token = await OpenLinkTokenAsync(client, user, cancellationToken);
        return new UriBuilder(serverUrl) { Query = $"token={Uri.EscapeDataString(token.Token)}" }.Uri;
    }

    private async Task<OpenLinkToken> OpenLinkTokenAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        var lifetime = TimeSpan.FromSeconds(_options.OpenLinkTokenLifetimeSeconds);
        var now = _clock.GetUtcNow();
        if (_openLinkTokens.TryGetValue(user.Value, out var cached) && cached.ExpiresAt - now > lifetime / 2)
        {
            return cached;
        }
        var request = new TokenRequest((int)lifetime.TotalSeconds, [$"access:servers!user={user.Value}"], OpenLinkNote);
        using var response = await client.PostAsJsonAsync($"{UserPath(user)}/tokens", request, Json, cancellationToken);
        if (response.StatusCode is not HttpStatusCode.Created)
        {
            throw await FailureAsync(response, $"create an open-link token for {user}", cancellationToken);
        }
        var created = await response.Content.ReadFromJsonAsync<TokenModel>(Json, cancellationToken);
        if (created is not { Token.Length: > 0, Id.Length: > 0 })
        {
            throw new JupyterHubException($"JupyterHub created a token for {user} but did not return it.");
        }
        var token = new OpenLinkToken(created.Id, created.Token, now + lifetime);
        _openLinkTokens[user.Value] = token;
        return token;
    }

    private async Task RevokeOpenLinkAsync(HttpClient client, Username user, CancellationToken cancellationToken)
    {
        if (!_openLinkTokens.TryRemove(user.Value, out var token))
        {
            return;
        }
        using var response = await client.DeleteAsync($"{UserPath(user)}/tokens/{Uri.EscapeDataString(token.Id)}", cancellationToken);
        if (!response.IsSuccessStatusCode && response.StatusCode is not HttpStatusCode.NotFound)
        {
            // It expires on its own; the server it opened is gone anyway.
            LogRevokeFailed(_logger, user.Value, (int)response.StatusCode);
        }
    }

    /// <summary>After a 429: the hub's <c>Retry-After</c>, else 0.5 s doubling per attempt; with jitter, capped.</summary>
    private TimeSpan RetryDelay(HttpResponseMessage response, int attempt)
    {
        var max = TimeSpan.FromSeconds(_options.MaxRetryDelaySeconds);
        var suggested = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - _clock.GetUtcNow(),
            _ => (TimeSpan?)null,
        };
        var delay = suggested is { } wait && wait > TimeSpan.Zero
            ? wait
            : FirstRetryDelay * Math.Pow(2, Math.Min(attempt - 1, 10));
        // Up to a quarter more, so that throttled starts do not come back all at once.
        delay += delay * (Random.Shared.NextDouble() / 4);
        return delay < max ? delay : max;
    }

    /// <summary>The hub's <c>message</c> from an error answer (<c>{"status": 400, "message": "…"}</c>), else the status.</summary>
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
            // not the hub's JSON (e.g. the proxy's error page)
        }
        message = string.IsNullOrWhiteSpace(message) ? $"{(int)response.StatusCode} {response.ReasonPhrase}" : message.Trim();
        return message.Length <= MaxMessageLength ? message : message[..MaxMessageLength] + "…";
    }

    private static async Task<JupyterHubException> FailureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken) =>
        new($"JupyterHub answered {(int)response.StatusCode} when asked to {what}: {await MessageAsync(response, cancellationToken)}",
            response.StatusCode);

    private static Uri WithTrailingSlash(string url)
    {
        var uri = new Uri(url, UriKind.Absolute);
        return uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri.GetLeftPart(UriPartial.Path) + "/");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "JupyterHub answered {Status} to the start of {Username}'s server")]
    private static partial void LogStartAnswered(ILogger logger, string username, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "JupyterHub is spawning too many servers; starting {Username}'s again in {Seconds:F1} s")]
    private static partial void LogStartThrottled(ILogger logger, string username, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "JupyterHub stayed busy for the start of {Username}'s server ({Attempts} attempts): {Message}")]
    private static partial void LogStartGaveUp(ILogger logger, string username, int attempts, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "JupyterHub refused the start of {Username}'s server ({Status}): {Message}")]
    private static partial void LogStartRefused(ILogger logger, string username, int status, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "JupyterHub stopped {Username}'s server")]
    private static partial void LogStopped(ILogger logger, string username);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Revoking the open-link token of {Username} failed ({Status}); it expires on its own")]
    private static partial void LogRevokeFailed(ILogger logger, string username, int status);

    /// <summary>The body of <c>POST /users/NAME/server</c>: the spawner's <c>user_options</c>.</summary>
    private sealed record UserOptions(string? Cuda, string Gpus, decimal Cpu, int MemGib);

    private sealed record TokenRequest(int ExpiresIn, IReadOnlyList<string> Scopes, string Note);

    private sealed record TokenModel(string? Id, string? Token);

    private sealed record OpenLinkToken(string Id, string Token, DateTimeOffset ExpiresAt);

    private sealed record ErrorModel(string? Message);

    private sealed record HubUserModel(string? Name, Dictionary<string, HubServerModel>? Servers);

    private sealed record HubServerModel(bool Ready, string? Pending, string? Url, DateTimeOffset? LastActivity);

    private sealed record HubProgressEvent(double? Progress, string? Message, bool Ready, bool Failed, string? Url);
}
