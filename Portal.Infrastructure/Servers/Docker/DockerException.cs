using System.Net;

namespace Portal.Infrastructure.Servers.Docker;

/// <summary>
/// The Docker Engine could not be asked or gave an answer that makes no sense (a 500 when listing containers, a
/// refused request): a failure of this attempt, not a decision about the server. The server jobs retry.
/// </summary>
public sealed class DockerException(string message, HttpStatusCode? statusCode = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The Engine's HTTP status, when it answered at all.</summary>
    public HttpStatusCode? StatusCode { get; } = statusCode;
}
