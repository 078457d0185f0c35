using System.Net;

namespace Portal.Infrastructure.Servers.Lxd;

/// <summary>
/// LXD could not be asked or did not do what it was asked (no socket, an error answer, a failed or unfinished
/// operation): a failure of this attempt, not a decision about the server. The server jobs retry.
/// </summary>
public sealed class LxdException(string message, HttpStatusCode? statusCode = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>LXD's error code (an HTTP status), when it answered with one.</summary>
    public HttpStatusCode? StatusCode { get; } = statusCode;
}
