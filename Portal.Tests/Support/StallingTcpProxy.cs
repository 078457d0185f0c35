using System.Net;
using System.Net.Sockets;

namespace Portal.Tests.Support;

/// <summary>
/// A fake network path to a real server: a loopback TCP proxy that forwards byte for byte (so the protocol on it, LDAP
/// with StartTLS and all, is the real one) until <see cref="Stall"/>, after which nothing moves on any connection, old
/// or new, until <see cref="Resume"/>: a server that stopped answering without closing anything.
/// </summary>
public sealed class StallingTcpProxy : LoopbackTcpProxy
{
    private volatile TaskCompletionSource _open = Opened();

    public StallingTcpProxy(int targetPort) : base(targetPort) => Start();

    public void Stall() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Resume() => _open.TrySetResult();

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await _open.Task.WaitAsync(Stopping);
                await server.ConnectAsync(IPAddress.Loopback, TargetPort, Stopping);
                await Task.WhenAny(PumpAsync(client.GetStream(), server.GetStream()), PumpAsync(server.GetStream(), client.GetStream()));
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // Either side went away: the connection ends, as it would on a real path.
            }
        }
    }

    private async Task PumpAsync(Stream from, Stream to)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, Stopping);
            if (read == 0)
            {
                return;
            }
            // A stalled path holds what it read: the other side sees silence, not an error.
            await _open.Task.WaitAsync(Stopping);
            await to.WriteAsync(buffer.AsMemory(0, read), Stopping);
        }
    }
}
