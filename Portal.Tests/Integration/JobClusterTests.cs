using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Jobs;
using Portal.Infrastructure.Onboarding;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// Two real portal processes on one database share the jobs, and when one is killed (SIGKILL) in the middle of its jobs
/// the other takes them over and finishes them: nothing is lost, nothing is done twice. Each node reaches the test slapd
/// through a <see cref="StallingTcpProxy"/>, which holds the provisioning jobs in the middle of their LDAP work for as
/// long as the test needs.
/// </summary>
[Collection(LoadCollection.Name)]
public sealed class JobClusterTests : MigratedDatabaseTest
{
    private const int WorkersPerNode = 4;

    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    private static readonly Dictionary<string, string> NodeSettings = new()
    {
        ["Jobs:MaxConcurrency"] = WorkersPerNode.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // A dead node's jobs come back after this (the live one renews its own every 2 s).
        ["Jobs:InvisibilityTimeout"] = "00:00:10",
        ["Jobs:QueuePollInterval"] = "00:00:01",
        // The test enqueues the jobs itself; the sweep would do so too, but only at start, when nothing is due yet.
        ["Onboarding:ProvisioningSweepSeconds"] = "3600",
        // A held LDAP call must stay held, not time out into a retry.
        ["Ldap:TimeoutSeconds"] = "120",
    };

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await OnboardingServices.UseOwnUidBlockAsync(Database);
    }

    [Fact]
    public async Task TwoNodes_OneKilledWhileHoldingJobs_BothWorkedAndTheSurvivorFinishesEveryApplicationOnce()
    {
        var ldapPort = TestEnvironment.Current.LdapPort;
        await using var pathA = new StallingTcpProxy(ldapPort);
        await using var pathB = new StallingTcpProxy(ldapPort);
        using var nodeA = PortalNodeProcess.Start(Database, pathA.Port, NodeSettings);
        using var nodeB = PortalNodeProcess.Start(Database, pathB.Port, NodeSettings);
        var options = new PostgreSqlStorageOptions { SchemaName = HangfireSchema.Name, PrepareSchemaIfNecessary = false, EnableLongPolling = true };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(Database.ConnectionString, options), options);
        var monitoring = storage.GetMonitoringApi();
        await Eventually.HoldsAsync(() => Task.FromResult(NodeAlive(nodeA) && NodeAlive(nodeB) && OnNode(monitoring.Servers(), nodeA) && OnNode(monitoring.Servers(), nodeB)),
            Deadline, () => Task.FromResult($"Hangfire servers: {string.Join(", ", monitoring.Servers().Select(s => s.Name))}\n"
                + $"node A:\n{nodeA.Tail()}\nnode B:\n{nodeB.Tail()}"));

        var onboarding = new OnboardingServices(Database);
        var approved = new List<(Guid Id, string Username)>();
        for (var i = 0; i < 3 * WorkersPerNode; i++)
        {
            approved.Add(await onboarding.ApprovedAsync());
        }
        pathA.Stall();
        pathB.Stall();
        var client = new BackgroundJobClient(storage);
        foreach (var (id, _) in approved)
        {
            PortalJobRunner.Enqueue(client, JobRequest.Provisioning(id));
        }

        // Every worker of both nodes is in the middle of a provisioning job, held in LDAP.
        await Eventually.HoldsAsync(() => Task.FromResult(Processing(monitoring, nodeA).Count == WorkersPerNode && Processing(monitoring, nodeB).Count == WorkersPerNode),
            Deadline, () => Task.FromResult($"processing: A {Processing(monitoring, nodeA).Count}, B {Processing(monitoring, nodeB).Count}\nnode A:\n{nodeA.Tail()}"));
        var heldByA = Processing(monitoring, nodeA);

        nodeA.Kill();
        pathB.Resume();

        var ids = approved.Select(a => a.Id).ToList();
        await Eventually.HoldsAsync(async () =>
        {
            await using var db = Database.CreateDbContext();
            return await db.Applications.CountAsync(a => ids.Contains(a.Id) && a.State == ApplicationState.Provisioned) == ids.Count;
        }, Deadline, async () => $"{await StatesAsync(ids)}\nnode B:\n{nodeB.Tail()}");

        // The killed node's jobs were finished by the other one. A job's row says Succeeded a moment after its work
        // committed, so wait for that too.
        await Eventually.HoldsAsync(() => Task.FromResult(heldByA.All(jobId => monitoring.JobDetails(jobId).History[0].StateName == "Succeeded")),
            Deadline, () => Task.FromResult(string.Join(", ", heldByA.Select(jobId => $"{jobId}: {monitoring.JobDetails(jobId).History[0].StateName}"))));
        foreach (var jobId in heldByA)
        {
            var history = monitoring.JobDetails(jobId).History;
            Assert.Contains(history, h => h.StateName == "Processing" && h.Data.TryGetValue("ServerId", out var server) && IsNode(server, nodeB));
        }
        // Once each: one entry, one uidNumber, one credentials link per application.
        await using var after = Database.CreateDbContext();
        var uidNumbers = await after.Applications.Where(a => ids.Contains(a.Id)).Select(a => a.UidNumber!.Value).ToListAsync();
        Assert.Equal(ids.Count, uidNumbers.Distinct().Count());
        var directory = LdapTestUsers.Directory();
        foreach (var (id, username) in approved)
        {
            Assert.Single(directory.FindDistinguishedNames(username));
            Assert.Equal(1, await after.AuditEvents.CountAsync(e => e.Action == "application.uid-allocated" && e.Target == ProvisioningService.ApplicationTarget(id)));
            Assert.Equal(1, await after.Accounts.CountAsync(a => a.Username == Username.Parse(username)));
        }
        Assert.False(nodeB.HasExited, nodeB.Tail());
    }

    /// <summary>A node that exited fails the test at once, with what it wrote.</summary>
    private static bool NodeAlive(PortalNodeProcess node) =>
        node.HasExited ? throw new InvalidOperationException($"A portal node exited:\n{node.Tail()}") : true;

    private static bool IsNode(string serverId, PortalNodeProcess node) =>
        serverId.Contains($":{node.ProcessId}:", StringComparison.Ordinal);

    private static bool OnNode(IEnumerable<Hangfire.Storage.Monitoring.ServerDto> servers, PortalNodeProcess node) =>
        servers.Any(s => IsNode(s.Name, node));

    /// <summary>
    /// The provisioning jobs a node is running now. Only those: a sweep the node triggered at its start may still be
    /// running beside them (late under load), and it finishes on that node, not on the other.
    /// </summary>
    private static List<string> Processing(IMonitoringApi monitoring, PortalNodeProcess node) =>
        [.. monitoring.ProcessingJobs(0, 100)
            .Where(j => j.Value.ServerId is { } server && IsNode(server, node) && j.Value.Job is { Args.Count: >= 1 } job && job.Args[0] is JobKind.Provisioning)
            .Select(j => j.Key)];

    private async Task<string> StatesAsync(IReadOnlyCollection<Guid> ids)
    {
        await using var db = Database.CreateDbContext();
        var states = await db.Applications.Where(a => ids.Contains(a.Id)).GroupBy(a => a.State)
            .Select(g => new { g.Key, Count = g.Count(), Error = g.Max(a => a.LastProvisioningError) }).ToListAsync();
        return string.Join("; ", states.Select(s => $"{s.Key}: {s.Count}{(s.Error is null ? "" : $" (last error: {s.Error})")}"));
    }
}
