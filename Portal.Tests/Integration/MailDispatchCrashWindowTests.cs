using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Mail;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Persistence;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// The window in which a mail can go out twice, against the real test PostgreSQL and SMTP sink: each message is
/// marked sent in its own commit right after the server accepted it, a claim keeps every other dispatcher (and the
/// same node restarted) away until it expires, and the Message-ID stored at enqueue is the one the sink receives.
/// The runs are stopped exactly in the window through <see cref="MailDispatcher.AfterServerAccepted"/>, which the
/// dispatcher calls between the server's 250 and the commit that marks the message sent.
/// </summary>
public sealed partial class MailDispatchCrashWindowTests : MigratedDatabaseTest
{
    private const int ClosedPort = 1;

    private const int ClaimSeconds = 60;

    private static readonly TimeSpan MailTimeout = TimeSpan.FromSeconds(15);

    private static readonly DateTimeOffset Start = new(2026, 4, 1, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task DispatchDueAsync_CancelledRightAfterServerAcceptedFirstOfThree_FirstMarkedAndRerunSendsOnlyTheOtherTwo()
    {
        var clock = new ManualClock(Start);
        var to = await QueueThreeAsync(clock, "cancel");
        using var shutdown = new CancellationTokenSource();
        var stopping = Dispatcher(clock, afterServerAccepted: _ =>
        {
            // The node is asked to stop while the server's 250 for message 1 is in hand, as a shutdown would.
            shutdown.Cancel();
            return Task.CompletedTask;
        });

        var stopped = await stopping.DispatchDueAsync(shutdown.Token);

        Assert.Equal(new MailDispatchResult(1, 0), stopped);
        var first = await RowAsync(to[0]);
        Assert.NotNull(first.SentAt);
        Assert.Null(first.ClaimedBy);
        Assert.All(await Task.WhenAll(RowAsync(to[1]), RowAsync(to[2])), row => Assert.Equal((0, (DateTimeOffset?)null), (row.Attempts, row.SentAt)));

        var rerun = await Dispatcher(clock).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(new MailDispatchResult(2, 0), rerun);
        // The sink stores a message before it answers 250: once a dispatch returned, nothing more is on its way.
        Assert.All(to, address => Assert.Single(SmtpSink.For(address)));
    }

    [Fact]
    public async Task DispatchDueAsync_NodeDiesRightAfterServerAcceptedFirstOfThree_OthersSentOnceAndFirstRepeatedOnlyAfterClaimWithSameMessageId()
    {
        var clock = new ManualClock(Start);
        var to = await QueueThreeAsync(clock, "kill");
        var dying = Dispatcher(clock, afterServerAccepted: _ => throw new NodeKilledException());

        await Assert.ThrowsAsync<NodeKilledException>(() => dying.DispatchDueAsync(CancellationToken.None));

        // Message 1 is out, and the dead node's claim on it is all that is left of the run.
        Assert.Single(SmtpSink.For(to[0]));
        var claimed = await RowAsync(to[0]);
        Assert.Null(claimed.SentAt);
        Assert.Equal((dying.ClaimOwner, Start.AddSeconds(ClaimSeconds), 1), (claimed.ClaimedBy, claimed.ClaimedUntil, claimed.Attempts));

        // The node restarts: a new dispatcher sends messages 2 and 3 and respects the claim on message 1.
        var restarted = Dispatcher(clock);
        Assert.NotEqual(dying.ClaimOwner, restarted.ClaimOwner);
        Assert.Equal(new MailDispatchResult(2, 0), await restarted.DispatchDueAsync(CancellationToken.None));
        Assert.Single(SmtpSink.For(to[0]));
        Assert.Single(SmtpSink.For(to[1]));
        Assert.Single(SmtpSink.For(to[2]));

        clock.Advance(TimeSpan.FromSeconds(ClaimSeconds - 1));
        Assert.Equal(new MailDispatchResult(0, 0), await restarted.DispatchDueAsync(CancellationToken.None));
        Assert.Single(SmtpSink.For(to[0]));

        // The claim expired: message 1 goes once more, the one copy the window allows, with the stored Message-ID.
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(new MailDispatchResult(1, 0), await restarted.DispatchDueAsync(CancellationToken.None));
        Assert.Equal(new MailDispatchResult(0, 0), await Dispatcher(clock).DispatchDueAsync(CancellationToken.None));

        var row = await RowAsync(to[0]);
        Assert.Equal((clock.GetUtcNow(), 2, (string?)null), (row.SentAt, row.Attempts, row.ClaimedBy));
        var copies = SmtpSink.For(to[0]);
        Assert.Equal(2, copies.Count);
        Assert.All(copies, copy => Assert.Equal(row.MessageId, copy.MessageId));
        Assert.All(to.Skip(1), address => Assert.Single(SmtpSink.For(address)));
    }

    [Fact]
    public async Task DispatchDueAsync_AnotherNodeBetweenServerAcceptAndMark_LeavesThatMessageAndSendsTheRest()
    {
        var clock = new ManualClock(Start);
        var to = await QueueThreeAsync(clock, "held");
        var inWindow = new TaskCompletionSource<OutboxMail>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = Dispatcher(clock, afterServerAccepted: async mail =>
        {
            inWindow.TrySetResult(mail);
            await release.Task;
        });

        var holdingRun = Task.Run(() => holding.DispatchDueAsync(CancellationToken.None));
        var held = await inWindow.Task.WaitAsync(MailTimeout);

        Assert.Equal(to[0], held.Recipient);
        var row = await RowAsync(to[0]);
        Assert.Equal((holding.ClaimOwner, (DateTimeOffset?)null), (row.ClaimedBy, row.SentAt));
        var other = Dispatcher(clock);
        Assert.Equal(new MailDispatchResult(2, 0), await other.DispatchDueAsync(CancellationToken.None));
        Assert.Single(SmtpSink.For(to[0]));

        release.SetResult();
        Assert.Equal(new MailDispatchResult(1, 0), await holdingRun.WaitAsync(MailTimeout));

        Assert.All(to, address => Assert.Single(SmtpSink.For(address)));
        await using var db = Database.CreateDbContext();
        Assert.Equal(3, await db.OutboxMails.CountAsync(m => m.SentAt != null && m.ClaimedBy == null && m.Attempts == 1));
    }

    [Fact]
    public async Task DispatchDueAsync_FourDispatchersRacingInSmallBatches_EachMessageSentOnceAndMarkedOnce()
    {
        const int count = 60;
        var clock = new ManualClock(Start);
        var mailer = Mailer(clock);
        var to = Enumerable.Range(0, count).Select(i => SmtpSink.UniqueAddress($"race{i}")).ToList();
        foreach (var address in to)
        {
            await mailer.QueueAsync(Message(address, "Race", $"for {address}"), $"test:race:{address}", CancellationToken.None);
        }
        var dispatchers = Enumerable.Range(0, 4).Select(_ => Dispatcher(clock, batchSize: 3)).ToList();

        using var start = new Barrier(dispatchers.Count);
        var sent = await Task.WhenAll(dispatchers.Select(dispatcher => Task.Run(async () =>
        {
            start.SignalAndWait();
            var total = 0;
            while ((await dispatcher.DispatchDueAsync(CancellationToken.None)) is { Sent: > 0 } run)
            {
                total += run.Sent;
            }
            return total;
        })));

        Assert.Equal(count, sent.Sum());
        Assert.All(to, address => Assert.Single(SmtpSink.For(address)));
        await using var db = Database.CreateDbContext();
        Assert.Equal(count, await db.OutboxMails.CountAsync(m => m.SentAt != null && m.Attempts == 1 && m.ClaimedBy == null));
    }

    [Fact]
    public async Task DispatchDueAsync_NodeStalledPastItsClaim_TakenOverOnceAndNoThirdCopy()
    {
        var clock = new ManualClock(Start);
        var to = SmtpSink.UniqueAddress("stalled");
        await Mailer(clock).QueueAsync(Message(to, "Stalled", "body"), $"test:stalled:{to}", CancellationToken.None);
        var inWindow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stalled = Dispatcher(clock, afterServerAccepted: async _ =>
        {
            inWindow.TrySetResult();
            await release.Task;
        });
        var stalledRun = Task.Run(() => stalled.DispatchDueAsync(CancellationToken.None));
        await inWindow.Task.WaitAsync(MailTimeout);

        // The stalled node outlives its claim: another node takes the message over and sends the second copy.
        clock.Advance(TimeSpan.FromSeconds(ClaimSeconds));
        Assert.Equal(new MailDispatchResult(1, 0), await Dispatcher(clock).DispatchDueAsync(CancellationToken.None));
        release.SetResult();
        Assert.Equal(new MailDispatchResult(1, 0), await stalledRun.WaitAsync(MailTimeout));

        Assert.Equal(new MailDispatchResult(0, 0), await Dispatcher(clock).DispatchDueAsync(CancellationToken.None));
        var row = await RowAsync(to);
        Assert.Equal((clock.GetUtcNow(), 2, (string?)null), (row.SentAt, row.Attempts, row.ClaimedBy));
        var copies = SmtpSink.For(to);
        Assert.Equal(2, copies.Count);
        Assert.All(copies, copy => Assert.Equal(row.MessageId, copy.MessageId));
    }

    [Fact]
    public async Task DispatchDueAsync_DatabaseConnectionsDroppedRightAfterServerAccepted_StillMarksItSentAndSendsNoSecondCopy()
    {
        var clock = new ManualClock(Start);
        var to = SmtpSink.UniqueAddress("dropped");
        await Mailer(clock).QueueAsync(Message(to, "Dropped", "body"), $"test:dropped:{to}", CancellationToken.None);
        var dropped = 0;
        var dispatcher = Dispatcher(clock, afterServerAccepted: async _ =>
        {
            // The database ends every session of the dispatcher (as a restart or failover of PostgreSQL would) while
            // the server's 250 is in hand: the pooled connection the claim used is dead now.
            // A connection of its own (another pool), so that the dispatcher's pooled ones are the ones ended.
            var builder = new Npgsql.NpgsqlConnectionStringBuilder(Database.ConnectionString) { Pooling = false };
            await using var connection = new Npgsql.NpgsqlConnection(builder.ConnectionString);
            await connection.OpenAsync();
            await using var terminate = new Npgsql.NpgsqlCommand("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                """, connection);
            dropped = Convert.ToInt32(await terminate.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        });

        var result = await dispatcher.DispatchDueAsync(CancellationToken.None);

        Assert.True(dropped > 0, "the dispatcher's sessions were ended");
        Assert.Equal(new MailDispatchResult(1, 0), result);
        var row = await RowAsync(to);
        Assert.Equal((clock.GetUtcNow(), (string?)null), (row.SentAt, row.ClaimedBy));
        clock.Advance(TimeSpan.FromSeconds(ClaimSeconds));
        Assert.Equal(new MailDispatchResult(0, 0), await Dispatcher(clock).DispatchDueAsync(CancellationToken.None));
        Assert.Single(SmtpSink.For(to));
    }

    [Fact]
    public async Task QueueAsyncAndStage_MessageIdStoredAtEnqueue_SentUnchangedAfterAFailedAttempt()
    {
        var clock = new ManualClock(Start);
        var queued = SmtpSink.UniqueAddress("mid-queued");
        var staged = SmtpSink.UniqueAddress("mid-staged");
        await Mailer(clock).QueueAsync(Message(queued, "Queued", "body"), $"test:mid:{queued}", CancellationToken.None);
        OutboxMail stagedMail;
        await using (var db = Database.CreateDbContext())
        {
            stagedMail = OutboxMailer.Stage(db, Message(staged, "Staged", "body"), $"test:mid:{staged}", clock.GetUtcNow());
            await db.SaveChangesAsync();
        }
        var before = await Task.WhenAll(RowAsync(queued), RowAsync(staged));

        Assert.Equal(before[1].MessageId, stagedMail.MessageId);
        Assert.All(before, row => Assert.Matches(MessageIdPattern(), row.MessageId));
        Assert.NotEqual(before[0].MessageId, before[1].MessageId);

        Assert.Equal(new MailDispatchResult(0, 1), await Dispatcher(clock, port: ClosedPort).DispatchDueAsync(CancellationToken.None));
        clock.Advance(MailDispatcher.FirstRetryDelay);
        Assert.Equal(new MailDispatchResult(2, 0), await Dispatcher(clock).DispatchDueAsync(CancellationToken.None));

        var after = await Task.WhenAll(RowAsync(queued), RowAsync(staged));
        Assert.Equal(before.Select(r => r.MessageId), after.Select(r => r.MessageId));
        Assert.Equal(2, after[0].Attempts);
        Assert.Equal(after[0].MessageId, Assert.Single(SmtpSink.For(queued)).MessageId);
        Assert.Equal(after[1].MessageId, Assert.Single(SmtpSink.For(staged)).MessageId);
    }

    [Fact]
    public async Task DispatchDueAsync_ServerAcceptsConnectionButNeverAnswers_GivesUpWithinTimeoutAndReleasesTheClaim()
    {
        // A server that takes the connection and never says a word (the kernel accepts it into the backlog): the send
        // must end within the timeout, well inside its claim, and leave the mail to the next attempt.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var clock = new ManualClock(Start);
        var to = SmtpSink.UniqueAddress("silent");
        await Mailer(clock).QueueAsync(Message(to, "Silent", "body"), $"test:silent:{to}", CancellationToken.None);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = await Dispatcher(clock, port: port, timeoutSeconds: 1).DispatchDueAsync(CancellationToken.None).WaitAsync(MailTimeout);
        watch.Stop();

        Assert.Equal(new MailDispatchResult(0, 1), result);
        var row = await RowAsync(to);
        Assert.Equal(((DateTimeOffset?)null, (string?)null, (DateTimeOffset?)null), (row.SentAt, row.ClaimedBy, row.ClaimedUntil));
        Assert.Contains("timed out", row.LastError, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(ClaimSeconds / 2), $"the send took {watch.Elapsed}");
        Assert.Equal(Start + MailDispatcher.FirstRetryDelay, row.NextAttemptAt);
    }

    [Fact]
    public async Task AddPortalMail_ClaimShorterThanTwiceTheTimeout_RefusedAtStart()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mail:TimeoutSeconds"] = "30",
            ["Mail:ClaimSeconds"] = "59",
        }).Build();
        await using var provider = new ServiceCollection()
            .AddLogging()
            .AddSingleton(TimeProvider.System)
            .AddDbContextFactory<PortalDbContext>(options => options.UseNpgsql(Database.DataSource))
            .AddPortalMail(configuration)
            .BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MailOptions>>().Value);

        Assert.Contains("ClaimSeconds", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Three mails, due at the same moment, so they are taken in the order queued.</summary>
    private async Task<string[]> QueueThreeAsync(TimeProvider clock, string prefix)
    {
        var mailer = Mailer(clock);
        var to = Enumerable.Range(1, 3).Select(i => SmtpSink.UniqueAddress($"{prefix}{i}")).ToArray();
        foreach (var (address, i) in to.Select((a, i) => (a, i + 1)))
        {
            await mailer.QueueAsync(Message(address, $"Message {i} of 3", $"body {i}"), $"test:{prefix}:{address}", CancellationToken.None);
        }
        return to;
    }

    private OutboxMailer Mailer(TimeProvider clock) => new(Database.ContextFactory(), clock);

    private MailDispatcher Dispatcher(
        TimeProvider clock, int? port = null, Func<OutboxMail, Task>? afterServerAccepted = null, int timeoutSeconds = 10, int batchSize = 50)
    {
        var env = TestEnvironment.Current;
        var options = new MailOptions
        {
            SmtpHost = env.SmtpHost,
            SmtpPort = port ?? env.SmtpPort,
            TimeoutSeconds = timeoutSeconds,
            ClaimSeconds = ClaimSeconds,
            BatchSize = batchSize,
        };
        return new MailDispatcher(Database.ContextFactory(), Options.Create(options), clock, NullLogger<MailDispatcher>.Instance)
        {
            AfterServerAccepted = afterServerAccepted,
        };
    }

    private static MailMessage Message(string to, string subject, string body) => new(EmailAddress.Parse(to), subject, body);

    private async Task<OutboxMail> RowAsync(string recipient)
    {
        await using var db = Database.CreateDbContext();
        return await db.OutboxMails.AsNoTracking().SingleAsync(m => m.Recipient == recipient);
    }

    [GeneratedRegex(@"^<[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>$")]
    private static partial Regex MessageIdPattern();

    /// <summary>Thrown in the crash window to end a run there, as <c>kill -9</c> would: nothing after it runs.</summary>
    private sealed class NodeKilledException : Exception
    {
        public NodeKilledException()
            : base("The node was killed after the SMTP server accepted the message.")
        {
        }
    }
}
