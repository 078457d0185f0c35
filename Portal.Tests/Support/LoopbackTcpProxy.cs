using System.Net;
using System.Net.Sockets;

namespace Portal.Tests.Support;

/// <summary>
/// A fake network path to a real server on this machine: a TCP listener on a loopback port whose every accepted
/// connection the subclass serves (<see cref="ServeAsync"/>), usually by forwarding it byte for byte to
/// <see cref="TargetPort"/>, so that the protocol on it is the real one.
/// </summary>
public abstract class LoopbackTcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private Task _accepting = Task.CompletedTask;

    protected LoopbackTcpProxy(int targetPort) => TargetPort = targetPort;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    protected int TargetPort { get; }

    /// <summary>Cancelled when the proxy is disposed.</summary>
    protected CancellationToken Stopping => _stop.Token;

    /// <summary>Starts listening; called by the subclass's constructor once its own fields are set.</summary>
    protected void Start()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>Serves one accepted connection and disposes it; runs beside the accept loop.</summary>
    protected abstract Task ServeAsync(TcpClient client);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = ServeAsync(client);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
