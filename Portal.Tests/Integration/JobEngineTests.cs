using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Domain.Servers;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Terms;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// The guarantees of the jobs, proven again on the real engine: the portal in-process with its Hangfire server on its
/// own database, the test slapd and SMTP sink, and the local-process backend. Nothing here runs a job by hand: the
/// tests act as people do (approve, start) and wait, with a deadline, for what the jobs must bring about.
/// </summary>
[Collection(LoadCollection.Name)]
public sealed class JobEngineTests(InProcessPortalAtDefaultConcurrency app) : IClassFixture<InProcessPortalAtDefaultConcurrency>, IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    public async Task InitializeAsync()
    {
        _ = app.Services; // starts the host: migrations, Hangfire server, recurring jobs
        await OnboardingServices.UseOwnUidBlockAsync(app.Database);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<(Guid Id, string Username, string Email)> SubmitAsync(string prefix)
    {
        var uid = LdapTestUsers.UniqueUsername(prefix);
        var email = $"{uid}@keio.jp";
        var terms = await app.Services.GetRequiredService<TermsService>().CurrentAsync(CancellationToken.None);
        var result = await app.Services.GetRequiredService<ApplicationService>().SubmitAsync("Taro Yamada", email, "S1234567",
            "Faculty of Science", uid, "Coursework in deep learning", acceptedTerms: true, terms.Version, "192.0.2.30", CancellationToken.None);
        return (Assert.IsType<SubmitResult.Submitted>(result).ApplicationId, uid, email);
    }

    private async Task<string> StatesAsync(IReadOnlyCollection<Guid> ids)
    {
        await using var db = app.Database.CreateDbContext();
        var states = await db.Applications.Where(a => ids.Contains(a.Id)).GroupBy(a => a.State)
            .Select(g => new { g.Key, Count = g.Count(), Error = g.Max(a => a.LastProvisioningError) }).ToListAsync();
        return string.Join("; ", states.Select(s => $"{s.Key}: {s.Count}{(s.Error is null ? "" : $" (last error: {s.Error})")}"));
    }

    private async Task WaitProvisionedAsync(IReadOnlyCollection<Guid> ids) =>
        await Eventually.HoldsAsync(async () =>
        {
            await using var db = app.Database.CreateDbContext();
            return await db.Applications.CountAsync(a => ids.Contains(a.Id) && a.State == ApplicationState.Provisioned) == ids.Count;
        }, Deadline, () => StatesAsync(ids));

    [Fact]
    public async Task Approve_FiftyConcurrentApprovalsOfOneApplication_OneEntryOneUidNumberOneMail()
    {
        var (id, uid, email) = await SubmitAsync("jeo");
        int mailsBefore;
        await using (var db = app.Database.CreateDbContext())
        {
            mailsBefore = await db.OutboxMails.CountAsync(m => m.Recipient == email);
        }
        var review = app.Services.GetRequiredService<ReviewService>();

        var decisions = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            Task.Run(() => review.ApproveAsync(id, Username.Parse($"staff{i}"), null, CancellationToken.None))));
        await WaitProvisionedAsync([id]);

        Assert.Single(decisions.OfType<DecisionResult.Decided>());
        Assert.Single(LdapTestUsers.Directory().FindDistinguishedNames(uid));
        await using var after = app.Database.CreateDbContext();
        var application = await after.Applications.SingleAsync(a => a.Id == id);
        var account = await after.Accounts.SingleAsync(a => a.Username == Username.Parse(uid));
        Assert.Equal(application.UidNumber, account.UidNumber);
        Assert.Equal(1, await after.AuditEvents.CountAsync(e => e.Action == "application.uid-allocated" && e.Target == ProvisioningService.ApplicationTarget(id)));
        Assert.Equal(mailsBefore + 1, await after.OutboxMails.CountAsync(m => m.Recipient == email));
    }

    [Fact]
    public async Task Approve_TwoHundredApplications_TwoHundredEntriesWithDistinctUidNumbers()
    {
        var submitted = new System.Collections.Concurrent.ConcurrentBag<(Guid Id, string Username, string Email)>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 200), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (_, _) => submitted.Add(await SubmitAsync("jeb")));
        var review = app.Services.GetRequiredService<ReviewService>();
        await Parallel.ForEachAsync(submitted, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (a, _) => Assert.IsType<DecisionResult.Decided>(await review.ApproveAsync(a.Id, Username.Parse("staff1"), null, CancellationToken.None)));

        var ids = submitted.Select(a => a.Id).ToList();
        await WaitProvisionedAsync(ids);

        await using var db = app.Database.CreateDbContext();
        var uidNumbers = await db.Applications.Where(a => ids.Contains(a.Id)).Select(a => a.UidNumber!.Value).ToListAsync();
        Assert.Equal(200, uidNumbers.Distinct().Count());
        var directory = LdapTestUsers.Directory();
        foreach (var (id, username, _) in submitted)
        {
            var user = await directory.FindUserAsync(Username.Parse(username), CancellationToken.None);
            Assert.NotNull(user);
            Assert.Equal((await db.Applications.SingleAsync(a => a.Id == id)).UidNumber, user.UidNumber);
        }
    }

    [Fact]
    public async Task Start_TwentyRapidRequestsOfOneUser_OneServerRunsThenStops()
    {
        var user = Username.Parse(LdapTestUsers.UniqueUsername("jes"));
        var servers = app.Services.GetRequiredService<ServerService>();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            Task.Run(() => servers.StartAsync(user, null, "192.0.2.31", CancellationToken.None))));
        await WaitForStateAsync(user, ServerState.Running);

        Assert.Equal(1, results.Count(r => r == ServerRequestResult.Requested));
        Assert.Equal(19, results.Count(r => r == ServerRequestResult.AlreadyRequested));
        await using (var db = app.Database.CreateDbContext())
        {
            var server = await db.Servers.AsNoTracking().SingleAsync(s => s.Username == user);
            Assert.Equal(1, await db.ServerSessions.CountAsync(s => s.ServerId == server.Id));
        }

        Assert.Equal(ServerRequestResult.Requested, await servers.StopAsync(user, user.Value, "192.0.2.31", CancellationToken.None));
        await WaitForStateAsync(user, ServerState.Stopped);
    }

    private async Task WaitForStateAsync(Username user, ServerState state)
    {
        UserServer? last = null;
        await Eventually.HoldsAsync(async () =>
        {
            await using var db = app.Database.CreateDbContext();
            last = await db.Servers.AsNoTracking().SingleOrDefaultAsync(s => s.Username == user);
            return last?.Observed == state;
        }, Deadline, () => Task.FromResult(last is null ? "no server row" : ServerAssert.Describe(last)));
    }
}
