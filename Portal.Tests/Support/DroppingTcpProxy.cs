using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Portal.Tests.Support;

/// <summary>
/// A fake network path to a real server: a loopback TCP proxy that closes the first <c>drop</c> connections it
/// accepts at once (as a server dropping a connection under load does) and forwards every later one, byte for byte,
/// to the real server, so the protocol on it (LDAP, StartTLS and all) is the real one. It counts the connections it
/// accepts and those open at once, and can close the open ones, as a server's idle timeout or restart does.
/// </summary>
public sealed class DroppingTcpProxy : LoopbackTcpProxy
{
    private readonly ConcurrentDictionary<TcpClient, bool> _forwarded = new();
    private int _drop;
    private int _accepted;
    private int _open;
    private int _maxOpen;
    private int _closedByServer;

    public DroppingTcpProxy(int targetPort, int drop) : base(targetPort)
    {
        _drop = drop;
        Start();
    }

    /// <summary>Connections accepted so far, dropped ones included.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Connections forwarded now (accepted, not dropped, and not yet closed by either side).</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>The most connections that were <see cref="Open"/> at once so far.</summary>
    public int MaxOpen => Volatile.Read(ref _maxOpen);

    /// <summary>
    /// Forwarded connections the server ended first. A client that replaces one at once may be counted open beside it
    /// for a moment: the server's last bytes reach the client before the proxy sees the end.
    /// </summary>
    public int ClosedByServer => Volatile.Read(ref _closedByServer);

    /// <summary>From now on every new connection is dropped at once, as by a server that is down.</summary>
    public void DropNewConnections() => Volatile.Write(ref _drop, int.MaxValue);

    /// <summary>From now on every new connection is forwarded.</summary>
    public void ForwardNewConnections() => Volatile.Write(ref _drop, 0);

    /// <summary>
    /// Closes every forwarded connection towards its client: with a reset (a path or server that died), or an orderly
    /// close (a server's idle timeout). The server side of each is closed after it.
    /// </summary>
    public void CloseOpenConnections(bool reset)
    {
        foreach (var client in _forwarded.Keys)
        {
            if (reset)
            {
                client.Client.LingerState = new LingerOption(true, 0);
            }
            client.Dispose();
        }
    }

    protected override Task ServeAsync(TcpClient client)
    {
        if (Interlocked.Increment(ref _accepted) <= Volatile.Read(ref _drop))
        {
            // RST rather than FIN: the client sees the connection dropped, not an orderly goodbye.
            client.Client.LingerState = new LingerOption(true, 0);
            client.Dispose();
            return Task.CompletedTask;
        }
        return ForwardAsync(client);
    }

    private async Task ForwardAsync(TcpClient client)
    {
        var open = Interlocked.Increment(ref _open);
        for (var max = Volatile.Read(ref _maxOpen); open > max; max = Volatile.Read(ref _maxOpen))
        {
            if (Interlocked.CompareExchange(ref _maxOpen, open, max) == max)
            {
                break;
            }
        }
        _forwarded[client] = true;
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, TargetPort, Stopping);
                var toServer = client.GetStream().CopyToAsync(server.GetStream(), Stopping);
                var toClient = server.GetStream().CopyToAsync(client.GetStream(), Stopping);
                if (await Task.WhenAny(toServer, toClient) == toClient)
                {
                    Interlocked.Increment(ref _closedByServer);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // Either side went away: the connection ends, as it would on a real path.
            }
            finally
            {
                // Before the client side is closed: when the server ends a connection, a client that reconnects at
                // once is never counted open twice.
                _forwarded.TryRemove(client, out _);
                Interlocked.Decrement(ref _open);
            }
        }
    }
}
