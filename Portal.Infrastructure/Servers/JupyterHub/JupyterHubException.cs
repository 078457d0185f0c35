using System.Net;

namespace Portal.Infrastructure.Servers.JupyterHub;

/// <summary>
/// The hub could not be asked (down, 502/503/504, a refused token, an answer that makes no sense): a failure of this
/// attempt, not a decision about the server. The server jobs retry; nothing about the user's request is implied.
/// </summary>
public sealed class JupyterHubException(string message, HttpStatusCode? statusCode = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The hub's (or its proxy's) HTTP status, when it answered at all.</summary>
    public HttpStatusCode? StatusCode { get; } = statusCode;
}
