using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.Infrastructure.Servers;

/// <summary>What a single-user server's <c>/api/status</c> says when it answers 200.</summary>
internal sealed record JupyterStatus(DateTimeOffset? LastActivity);

/// <summary>
/// Asks a single-user server whether it answers: <c>GET {root}api/status</c> with its token. Every backend that
/// reaches the server itself (local processes, Slurm, Docker, LXD) uses this; the call does not count as activity.
/// </summary>
internal static partial class JupyterStatusProbe
{
    /// <summary>The status when the server answers 200; null when it does not answer (yet), answers otherwise, or times out.</summary>
    public static async Task<JupyterStatus?> AskAsync(HttpClient http, Uri root, string? token, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(root, "api/status"));
        if (!string.IsNullOrEmpty(token))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("token", token);
        }
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } limit)
        {
            bounded.CancelAfter(limit);
        }
        try
        {
            using var response = await http.SendAsync(request, bounded.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return null;
            }
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(bounded.Token));
            var lastActivity = document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("last_activity", out var value)
                && value.ValueKind == JsonValueKind.String
                    ? ParseTime(value.GetString())
                    : null;
            return new JupyterStatus(lastActivity);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    /// <summary>An RFC 3339 time as Jupyter and Docker write it (nanoseconds cut to what .NET holds); null for none or a zero time.</summary>
    public static DateTimeOffset? ParseTime(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        var text = FractionBeyondTicks().Replace(value, "$1");
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) && parsed.Year > 1
            ? parsed
            : null;
    }

    [GeneratedRegex(@"(\.[0-9]{7})[0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex FractionBeyondTicks();
}
