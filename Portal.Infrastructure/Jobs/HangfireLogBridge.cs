using Microsoft.Extensions.Logging;
using HangfireLog = Hangfire.Logging;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// Hangfire's log provider is one per process (<c>LogProvider.SetCurrentLogProvider</c>), and <c>AddHangfire</c> points
/// it at the logger factory of whichever host resolved it last. Where one process hosts the portal more than once (the
/// tests), a host that ended would leave Hangfire logging into its disposed factory, and every Hangfire component
/// created afterwards (a job client, a worker's logger) would throw <see cref="ObjectDisposedException"/>. This bridge
/// writes to the factory of the host that started last, and drops a line rather than fail when that one is gone.
/// </summary>
public sealed class HangfireLogBridge : HangfireLog.ILogProvider
{
    private static readonly HangfireLogBridge Instance = new();
    private static ILoggerFactory? _factory;

    private HangfireLogBridge()
    {
    }

    public static HangfireLog.ILogProvider For(ILoggerFactory factory)
    {
        Volatile.Write(ref _factory, factory);
        return Instance;
    }

    public HangfireLog.ILog GetLogger(string name) => new NamedLog(name);

    private sealed class NamedLog(string name) : HangfireLog.ILog
    {
        public bool Log(HangfireLog.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            if (Volatile.Read(ref _factory) is not { } factory)
            {
                return false;
            }
            try
            {
                var logger = factory.CreateLogger(name);
                var level = logLevel switch
                {
                    HangfireLog.LogLevel.Trace => LogLevel.Trace,
                    HangfireLog.LogLevel.Debug => LogLevel.Debug,
                    HangfireLog.LogLevel.Info => LogLevel.Information,
                    HangfireLog.LogLevel.Warn => LogLevel.Warning,
                    HangfireLog.LogLevel.Error => LogLevel.Error,
                    HangfireLog.LogLevel.Fatal => LogLevel.Critical,
                    _ => LogLevel.Information,
                };
                if (messageFunc is null)
                {
                    return logger.IsEnabled(level);
                }
                if (logger.IsEnabled(level))
                {
#pragma warning disable CA1848, CA2254 // Hangfire hands over finished text; there is no template to cache.
                    logger.Log(level, exception, messageFunc());
#pragma warning restore CA1848, CA2254
                }
                return true;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }
}
