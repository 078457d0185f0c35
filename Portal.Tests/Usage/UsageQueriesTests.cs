using Portal.Infrastructure.Usage;
using Portal.Tests.Support;
using static Portal.Tests.Usage.UsageRows;

namespace Portal.Tests.Usage;

/// <summary>The usage figures against sessions crafted with known times in a real PostgreSQL.</summary>
public sealed class UsageQueriesTests : MigratedDatabaseTest
{
    private const double Tolerance = 1e-9;

    // 10 and 11 March 2026, UTC.
    private static readonly UsagePeriod TwoDays = new(At("2026-03-10T00:00:00Z"), At("2026-03-12T00:00:00Z"));

    private UsageRows Rows => new(Database);

    private UsageQueries Queries(string now) => new(Database.DataSource, new ManualClock(At(now)));

    private async Task SeedTwoDaysAsync(UsageRows rows)
    {
        await rows.AccountAsync("alice", "Science");
        await rows.AccountAsync("bob", "Letters");
        // alice: 2 h inside the period of a session that began the evening before (clipped at the start), 1 GPU...
        await rows.SessionAsync("alice", "2026-03-09T21:59:00Z", "2026-03-09T22:00:00Z", "2026-03-10T02:00:00Z", gpus: 1);
        // ...and 2 h across midnight UTC (1 h on each day) with 2 GPUs.
        await rows.SessionAsync("alice", "2026-03-10T22:58:00Z", "2026-03-10T23:00:00Z", "2026-03-11T01:00:00Z", gpus: 2);
        // bob: still open, clipped at the period's end: 2 h, 1 GPU. A failed start that never became ready counts zero.
        await rows.SessionAsync("bob", "2026-03-11T21:59:00Z", "2026-03-11T22:00:00Z", null, gpus: 1);
        await rows.SessionAsync("bob", "2026-03-10T05:00:00Z", null, "2026-03-10T05:10:00Z", gpus: 1);
        // carol (no account, so no department): 1 h inside, 4 GPUs, ending after the period.
        await rows.SessionAsync("carol", "2026-03-11T22:59:00Z", "2026-03-11T23:00:00Z", "2026-03-12T03:00:00Z", gpus: 4);
        // dave: before and after the period only.
        await rows.SessionAsync("dave", "2026-03-09T10:00:00Z", "2026-03-09T10:01:00Z", "2026-03-09T23:59:59Z", gpus: 1);
        await rows.SessionAsync("dave", "2026-03-12T00:00:00Z", "2026-03-12T00:00:00Z", "2026-03-12T05:00:00Z", gpus: 1);
    }

    [Fact]
    public async Task ByUser_SessionsClippedToThePeriod_HoursAndGpuHoursMostFirst()
    {
        var rows = Rows;
        await SeedTwoDaysAsync(rows);

        var users = await Queries("2026-03-20T00:00:00Z").ByUserAsync(TwoDays, null, CancellationToken.None);

        Assert.Equal(["alice", "carol", "bob"], users.Select(u => u.Key));
        AssertUsage(users[0], hours: 4, gpuHours: 6, sessions: 2);
        AssertUsage(users[1], hours: 1, gpuHours: 4, sessions: 1);
        AssertUsage(users[2], hours: 2, gpuHours: 2, sessions: 1);

        var top = await Queries("2026-03-20T00:00:00Z").ByUserAsync(TwoDays, 2, CancellationToken.None);
        Assert.Equal(["alice", "carol"], top.Select(u => u.Key));
    }

    [Fact]
    public async Task ByDepartment_AccountsDepartment_UnknownAsEmpty()
    {
        var rows = Rows;
        await SeedTwoDaysAsync(rows);

        var departments = await Queries("2026-03-20T00:00:00Z").ByDepartmentAsync(TwoDays, CancellationToken.None);

        Assert.Equal(["Science", "", "Letters"], departments.Select(d => d.Key));
        AssertUsage(departments[0], hours: 4, gpuHours: 6, sessions: 2);
        AssertUsage(departments[1], hours: 1, gpuHours: 4, sessions: 1);
        AssertUsage(departments[2], hours: 2, gpuHours: 2, sessions: 1);
    }

    [Fact]
    public async Task ByDay_SessionAcrossMidnightUtc_SplitBetweenTheDays()
    {
        var rows = Rows;
        await SeedTwoDaysAsync(rows);

        var days = await Queries("2026-03-20T00:00:00Z").ByDayAsync(TwoDays, CancellationToken.None);

        Assert.Equal(["2026-03-10", "2026-03-11"], days.Select(d => d.Key));
        AssertUsage(days[0], hours: 3, gpuHours: 4, sessions: 2);
        AssertUsage(days[1], hours: 4, gpuHours: 8, sessions: 3);
    }

    [Fact]
    public async Task ByUser_OpenSessionCountsUntilNow_StartingSessionCountsZero()
    {
        var rows = Rows;
        await rows.SessionAsync("bob", "2026-03-11T09:59:00Z", "2026-03-11T10:00:00Z", null, gpus: 2);
        await rows.SessionAsync("erin", "2026-03-11T11:00:00Z", null, null, gpus: 1);
        var today = new UsagePeriod(At("2026-03-11T00:00:00Z"), At("2026-03-12T00:00:00Z"));

        var users = await Queries("2026-03-11T12:00:00Z").ByUserAsync(today, null, CancellationToken.None);

        var bob = Assert.Single(users);
        Assert.Equal("bob", bob.Key);
        AssertUsage(bob, hours: 2, gpuHours: 4, sessions: 1);
    }

    [Fact]
    public async Task SpawnStats_KnownSpawnTimes_PercentilesAndFailureRatePerBackend()
    {
        var rows = Rows;
        var requested = At("2026-03-10T08:00:00Z");
        var values = new List<string>();
        for (var seconds = 1; seconds <= 100; seconds++)
        {
            var user = $"u{seconds:D3}";
            await rows.SessionAsync(user, Iso(requested), Iso(requested.AddSeconds(seconds)), Iso(requested.AddHours(1)));
        }
        // slurm: 3 stopped after 10 s spawns, 1 failed start, and 1 failure outside the period.
        for (var i = 0; i < 3; i++)
        {
            await rows.SessionAsync($"s{i}", "2026-03-11T08:00:00Z", "2026-03-11T08:00:10Z", "2026-03-11T09:00:00Z", backend: "slurm");
        }
        await rows.SessionAsync("s3", "2026-03-11T08:00:00Z", null, "2026-03-11T08:10:00Z", backend: "slurm");
        await rows.SessionAsync("s4", "2026-03-09T08:00:00Z", null, "2026-03-09T08:10:00Z", backend: "slurm");

        var stats = await Queries("2026-03-20T00:00:00Z").SpawnStatsAsync(TwoDays, CancellationToken.None);

        Assert.Equal(["local", "slurm"], stats.Select(s => s.Backend));
        var local = stats[0];
        Assert.Equal(100, local.Ready);
        Assert.Equal(50.5, local.P50Seconds!.Value, 6);
        Assert.Equal(95.05, local.P95Seconds!.Value, 6);
        Assert.Equal(100, local.Ended);
        Assert.Equal(0, local.Failed);
        Assert.Equal(0, local.FailureRate);
        var slurm = stats[1];
        Assert.Equal(3, slurm.Ready);
        Assert.Equal(10, slurm.P50Seconds!.Value, 6);
        Assert.Equal(4, slurm.Ended);
        Assert.Equal(1, slurm.Failed);
        Assert.Equal(0.25, slurm.FailureRate);
    }

    [Fact]
    public async Task Applications_ByStateInThePeriod_AndOpenOnesByAge()
    {
        var rows = Rows;
        await rows.ApplicationAsync("a1", "Submitted", "2026-03-11T10:00:00Z");     // open, 2 h old
        await rows.ApplicationAsync("a2", "Submitted", "2026-03-10T06:00:00Z");     // open, 1 d 6 h
        await rows.ApplicationAsync("a3", "ProvisioningFailed", "2026-03-10T11:00:00Z"); // open, 1 d 1 h
        await rows.ApplicationAsync("a4", "Provisioned", "2026-03-10T09:00:00Z");   // closed
        await rows.ApplicationAsync("a5", "Approved", "2026-03-05T12:00:00Z");      // open, 6 d, before the period
        await rows.ApplicationAsync("a6", "Submitted", "2026-02-01T12:00:00Z");     // open, > 7 d
        await rows.ApplicationAsync("a7", "Rejected", "2026-02-01T12:00:00Z");      // closed, before the period
        var queries = Queries("2026-03-11T12:00:00Z");

        var states = await queries.ApplicationsByStateAsync(TwoDays, CancellationToken.None);
        var ages = await queries.OpenApplicationsByAgeAsync(TwoDays, CancellationToken.None);

        Assert.Equal([("Provisioned", 1), ("ProvisioningFailed", 1), ("Submitted", 2)], states.Select(s => (s.State, s.Count)));
        Assert.Equal([(UsageQueries.AgeUnderOneDay, 1), (UsageQueries.AgeOneToThreeDays, 2), (UsageQueries.AgeThreeToSevenDays, 1),
            (UsageQueries.AgeOverSevenDays, 1)], ages.Select(a => (a.Bucket, a.Count)));
    }

    [Fact]
    public async Task Concurrency_Hourly_ServersAndGpusPerBucketEveryBucketListed()
    {
        var rows = Rows;
        await rows.SessionAsync("x", "2026-03-10T00:29:00Z", "2026-03-10T00:30:00Z", "2026-03-10T02:00:00Z", gpus: 1);
        await rows.SessionAsync("y", "2026-03-10T00:59:00Z", "2026-03-10T01:00:00Z", "2026-03-10T01:30:00Z", gpus: 2);
        var period = new UsagePeriod(At("2026-03-10T00:00:00Z"), At("2026-03-10T04:00:00Z"));
        Assert.Equal(UsageBucket.Hour, period.NaturalBucket);

        var points = await Queries("2026-03-20T00:00:00Z").ConcurrencyAsync(period, UsageBucket.Hour, CancellationToken.None);

        Assert.Equal([At("2026-03-10T00:00:00Z"), At("2026-03-10T01:00:00Z"), At("2026-03-10T02:00:00Z"), At("2026-03-10T03:00:00Z")],
            points.Select(p => p.Start));
        Assert.Equal([1, 2, 0, 0], points.Select(p => p.Servers));
        Assert.Equal([1, 3, 0, 0], points.Select(p => p.Gpus));
        Assert.Equal([0.5, 1.5, 0, 0], points.Select(p => Math.Round(p.AverageServers, 9)));
        Assert.Equal([0.5, 2.0, 0, 0], points.Select(p => Math.Round(p.AverageGpus, 9)));

        var daily = await Queries("2026-03-20T00:00:00Z").ConcurrencyAsync(TwoDays, UsageBucket.Day, CancellationToken.None);
        Assert.Equal([2, 0], daily.Select(p => p.Servers));
        Assert.Equal(2.0 / 24, daily[0].AverageServers, 9);
    }

    [Fact]
    public async Task FailuresByDay_FailedSessionsAndProvisioningFailuresPerUtcDay()
    {
        var rows = Rows;
        await rows.SessionAsync("f1", "2026-03-10T08:00:00Z", null, "2026-03-10T08:01:00Z");
        await rows.SessionAsync("f2", "2026-03-10T23:59:00Z", null, "2026-03-10T23:59:59Z");
        await rows.SessionAsync("f3", "2026-03-11T23:59:00Z", null, "2026-03-12T00:00:01Z"); // the next day: outside
        await rows.SessionAsync("f4", "2026-03-11T08:00:00Z", "2026-03-11T08:01:00Z", "2026-03-11T09:00:00Z", outcome: "Failed");
        await rows.SessionAsync("ok", "2026-03-11T08:00:00Z", "2026-03-11T08:01:00Z", "2026-03-11T09:00:00Z");
        await rows.AuditAsync("application.provisioning-failed", "2026-03-11T03:00:00Z");
        await rows.AuditAsync("application.provisioning-failed", "2026-03-11T04:00:00Z");
        await rows.AuditAsync("application.provisioned", "2026-03-10T04:00:00Z");

        var days = await Queries("2026-03-20T00:00:00Z").FailuresByDayAsync(TwoDays, CancellationToken.None);

        Assert.Equal([(At("2026-03-10T00:00:00Z"), 2, 0), (At("2026-03-11T00:00:00Z"), 1, 2)],
            days.Select(d => (d.Day, d.FailedSessions, d.ProvisioningFailures)));
    }

    [Fact]
    public async Task Queries_EmptyDatabase_ZeroRowsOrZeroBuckets()
    {
        var queries = Queries("2026-03-20T00:00:00Z");
        Assert.Empty(await queries.ByUserAsync(TwoDays, 10, CancellationToken.None));
        Assert.Empty(await queries.SpawnStatsAsync(TwoDays, CancellationToken.None));
        Assert.All(await queries.ByDayAsync(TwoDays, CancellationToken.None), d => Assert.Equal(0, d.Hours));
        Assert.Equal(4, (await queries.OpenApplicationsByAgeAsync(TwoDays, CancellationToken.None)).Count);
        await Assert.ThrowsAsync<ArgumentException>(() =>
            queries.ByUserAsync(new UsagePeriod(TwoDays.To, TwoDays.From), null, CancellationToken.None));
    }

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static void AssertUsage(UsageRow row, double hours, double gpuHours, int sessions)
    {
        Assert.Equal(hours, row.Hours, Tolerance);
        Assert.Equal(gpuHours, row.GpuHours, Tolerance);
        Assert.Equal(sessions, row.Sessions);
    }
}
