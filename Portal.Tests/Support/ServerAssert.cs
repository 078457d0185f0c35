using System.Text;
using Portal.Domain.Servers;

namespace Portal.Tests.Support;

/// <summary>
/// Assertions on a user's server that, when they fail, say why the server is where it is: the failure reason, the last
/// error of the job and the last progress message, not only the state.
/// </summary>
public static class ServerAssert
{
    public static void InState(ServerState expected, UserServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (server.Observed != expected)
        {
            Assert.Fail($"Expected the server of {server.Username} to be {expected}. {Describe(server)}");
        }
    }

    /// <summary>The server's state and everything it records about why, for a failure message.</summary>
    public static string Describe(UserServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        var text = new StringBuilder()
            .Append("It is ").Append(server.Observed).Append(" (wanted ").Append(server.Desired).Append(", backend ")
            .Append(server.Backend).Append(", reference ").Append(server.BackendReference ?? "none").Append(").");
        if (server.FailureReason is { } reason)
        {
            text.Append(" Failure reason: ").Append(reason);
        }
        if (server.LastError is { } error)
        {
            text.Append(" Last error (attempt ").Append(server.Attempts).Append("): ").Append(error);
        }
        if (server.ProgressMessage is { } progress)
        {
            text.Append(" Last progress: ").Append(server.ProgressPercent).Append("% ").Append(progress);
        }
        return text.ToString();
    }
}
