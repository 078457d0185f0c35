using System.DirectoryServices.Protocols;
using Microsoft.Extensions.Logging;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// The portal's connections bound as its service account, kept open from one operation to the next: at most
/// <c>size</c> at once, each lent to one operation at a time and taken back after it
/// (docs/decisions/0016-ldap-service-connections.md). It opens connections only with the opener it was made with, and
/// there is no way to hand it a connection: what it lends is always one it opened, so a person's own bind can never
/// end up here and lend that person's identity to the next operation.
/// </summary>
internal sealed partial class ServiceConnectionPool : IDisposable
{
    private readonly Func<LdapConnection> _open;
    private readonly int _size;
    private readonly TimeSpan _waitLimit;
    private readonly string _endpoint;
    private readonly ILogger _logger;

    // One slot per operation that holds a connection (or is opening one); an idle connection holds none, and a
    // connection goes back to _idle before its slot is released, so idle and lent together never exceed the size.
    // Never disposed: without AvailableWaitHandle it holds nothing to free, and an operation still running at Dispose
    // must be able to release its slot.
    private readonly SemaphoreSlim _slots;
    private readonly Lock _gate = new();
    private readonly Stack<LdapConnection> _idle = new();
    private bool _disposed;

    /// <param name="size">The most connections open at once, lent and idle together.</param>
    /// <param name="open">Opens a new connection bound as the service account; throws when it cannot.</param>
    /// <param name="waitLimit">How long an operation waits for a connection while all are lent.</param>
    /// <param name="endpoint">Where the connections go, for messages.</param>
    /// <param name="logger">The directory's logger.</param>
    public ServiceConnectionPool(int size, Func<LdapConnection> open, TimeSpan waitLimit, string endpoint, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        _size = size;
        _open = open;
        _waitLimit = waitLimit;
        _endpoint = endpoint;
        _logger = logger;
        _slots = new SemaphoreSlim(size, size);
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on a lent connection, on a thread-pool thread (the library is synchronous, and a
    /// connection must not be used by two threads at once). When a connection that was kept idle turns out to have been
    /// closed by the server, the operation runs again, once, on a new connection, so every operation given here must be
    /// idempotent as a whole.
    /// </summary>
    /// <exception cref="DirectoryUnavailableException">No connection could be opened, or all stayed lent for the wait limit.</exception>
    public async Task<T> RunAsync<T>(Func<LdapConnection, T> operation, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (!await _slots.WaitAsync(_waitLimit, cancellationToken).ConfigureAwait(false))
        {
            throw Busy();
        }
        try
        {
            return await Task.Run(() => RunWithSlot(operation), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary><see cref="RunAsync{T}"/> for an operation without a result.</summary>
    public Task RunAsync(Action<LdapConnection> operation, CancellationToken cancellationToken) =>
        RunAsync(connection =>
        {
            operation(connection);
            return true;
        }, cancellationToken);

    /// <summary><see cref="RunAsync{T}"/> for synchronous callers: the operation runs on the calling thread.</summary>
    public T Run<T>(Func<LdapConnection, T> operation)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (!_slots.Wait(_waitLimit))
        {
            throw Busy();
        }
        try
        {
            return RunWithSlot(operation);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Closes the idle connections now and each lent one when its operation ends.</summary>
    public void Dispose()
    {
        LdapConnection[] idle;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }
        foreach (var connection in idle)
        {
            connection.Dispose();
        }
    }

    private T RunWithSlot<T>(Func<LdapConnection, T> operation)
    {
        if (TakeIdle() is { } kept)
        {
            try
            {
                return RunOn(kept, operation);
            }
            catch (Exception e) when (IsClosedByServer(e))
            {
                // Typically closed while it sat idle (the server's idle timeout, a restart). Part of the operation may
                // have been done before it broke; each one is idempotent as a whole, so it runs again from its start.
                // Only once: a new connection that breaks too says the server is in trouble, not that this one was stale.
                LogKeptConnectionClosed(_logger, _endpoint, LdapDirectory.Describe(e.InnerException ?? e));
            }
        }
        return RunOn(_open(), operation);
    }

    private T RunOn<T>(LdapConnection connection, Func<LdapConnection, T> operation)
    {
        T result;
        try
        {
            result = operation(connection);
        }
        catch (Exception e) when (!LeavesConnectionUsable(e))
        {
            connection.Dispose();
            throw;
        }
        catch
        {
            GiveBack(connection);
            throw;
        }
        GiveBack(connection);
        return result;
    }

    private LdapConnection? TakeIdle()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Last in, first out: a steady trickle of operations keeps reusing one connection and the others idle out.
            return _idle.TryPop(out var connection) ? connection : null;
        }
    }

    private void GiveBack(LdapConnection connection)
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _idle.Push(connection);
                return;
            }
        }
        connection.Dispose();
    }

    /// <summary>
    /// After an answer of the server (a result code other than "unavailable") the connection is as good as before. After
    /// an error the library reports itself (connection lost, a timeout whose request may still be under way, a decoding
    /// error) nothing is known about its state, so it is not lent again.
    /// </summary>
    private static bool LeavesConnectionUsable(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is LdapException or DirectoryOperationException { Response.ResultCode: ResultCode.Unavailable })
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>81 server down, 91 connect error, 52 unavailable (the server is going away): the connection is gone.</summary>
    private static bool IsClosedByServer(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is LdapException { ErrorCode: ServerDown or ConnectError or Unavailable }
                or DirectoryOperationException { Response.ResultCode: ResultCode.Unavailable })
            {
                return true;
            }
        }
        return false;
    }

    private const int Unavailable = 52;

    private const int ServerDown = 81;

    private const int ConnectError = 91;

    private DirectoryUnavailableException Busy() =>
        new($"All {_size} LDAP service connections to {_endpoint} stayed in use for {_waitLimit.TotalSeconds} s; the directory answers too slowly.");

    [LoggerMessage(Level = LogLevel.Debug, Message = "Kept LDAP service connection to {Endpoint} was closed ({Reason}); running the operation again on a new connection")]
    private static partial void LogKeptConnectionClosed(ILogger logger, string endpoint, string reason);
}
