using System.Globalization;
using Hangfire;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Usage;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// The portal's schedule, written to Hangfire by every node at start (the same ids, so the last writer wins with the
/// same values), and the sweeps run once at start so that work left by a node that went down is picked up at once.
/// </summary>
public sealed partial class RecurringJobs(IRecurringJobManagerV2 recurring, IConfiguration configuration, ILogger<RecurringJobs> logger) : IHostedService
{
    public static readonly JobKind[] SweptAtStart = [JobKind.ServerSweep, JobKind.ProvisioningSweep, JobKind.UserAdministrationSweep, JobKind.MailDispatch];

    /// <summary>The recurring job id of a kind, as the dashboard shows it.</summary>
    public static string IdOf(JobKind kind) => kind switch
    {
        JobKind.ServerSweep => "server-sweep",
        JobKind.IdleCull => "idle-cull",
        JobKind.StorageSampling => "storage-sampling",
        JobKind.UserAdministrationSweep => "user-admin-sweep",
        JobKind.ProvisioningSweep => "provisioning-sweep",
        JobKind.MailDispatch => "mail-dispatch",
        JobKind.Server or JobKind.UserAdministration or JobKind.Provisioning => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a recurring job."),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a recurring job."),
    };

    /// <summary>Each recurring kind and its interval, from configuration.</summary>
    public IReadOnlyList<(JobKind Kind, TimeSpan Every)> Schedule() =>
    [
        (JobKind.ProvisioningSweep, TimeSpan.FromSeconds(Math.Max(1, configuration.GetValue($"{OnboardingOptions.Section}:ProvisioningSweepSeconds", 30)))),
        (JobKind.MailDispatch, TimeSpan.FromSeconds(Math.Max(1, configuration.GetValue($"{MailOptions.Section}:{nameof(MailOptions.DispatchIntervalSeconds)}", 5)))),
        (JobKind.ServerSweep, configuration.GetValue($"{ServerOptions.Section}:ReconcileInterval", TimeSpan.FromMinutes(1))),
        (JobKind.IdleCull, TimeSpan.FromMinutes(1)),
        (JobKind.UserAdministrationSweep, TimeSpan.FromMinutes(1)),
        (JobKind.StorageSampling, Max(TimeSpan.FromMinutes(1),
            configuration.GetValue($"{UsageOptions.Section}:{nameof(UsageOptions.StorageSampleInterval)}", TimeSpan.FromHours(1)))),
    ];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var options = new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc };
        var schedule = Schedule();
        foreach (var (kind, every) in schedule)
        {
            recurring.AddOrUpdate<PortalJobRunner>(IdOf(kind), r => r.RunAsync(kind, "", CancellationToken.None), CronEvery(every), options);
        }
        foreach (var kind in SweptAtStart)
        {
            recurring.TriggerJob(IdOf(kind));
        }
        LogScheduled(logger, schedule.Count);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A cron expression that fires every <paramref name="every"/>, rounded to what cron can say: seconds that divide a
    /// minute, minutes that divide an hour, hours that divide a day (6 fields: Hangfire reads the first as seconds).
    /// </summary>
    public static string CronEvery(TimeSpan every)
    {
        if (every < TimeSpan.FromMinutes(1))
        {
            return $"*/{Divisor(60, (int)Math.Max(1, Math.Floor(every.TotalSeconds)))} * * * * *";
        }
        if (every < TimeSpan.FromHours(1))
        {
            return $"0 */{Divisor(60, (int)Math.Floor(every.TotalMinutes))} * * * *";
        }
        return every < TimeSpan.FromDays(1)
            ? string.Create(CultureInfo.InvariantCulture, $"0 0 */{Divisor(24, (int)Math.Floor(every.TotalHours))} * * *")
            : "0 0 0 * * *";
    }

    /// <summary>The largest divisor of <paramref name="whole"/> not above <paramref name="wanted"/>.</summary>
    private static int Divisor(int whole, int wanted)
    {
        for (var d = Math.Clamp(wanted, 1, whole); d > 1; d--)
        {
            if (whole % d == 0)
            {
                return d;
            }
        }
        return 1;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} recurring jobs scheduled; the sweeps run once now")]
    private static partial void LogScheduled(ILogger logger, int count);
}
