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

/// <summary>The mail outbox against the real test PostgreSQL and the real SMTP sink (aiosmtpd).</summary>
public sealed class MailOutboxTests : MigratedDatabaseTest
{
    private const int ClosedPort = 1;

    private static readonly TimeSpan MailTimeout = TimeSpan.FromSeconds(15);

    private static readonly DateTimeOffset Start = new(2026, 4, 1, 9, 0, 0, TimeSpan.Zero);

    private const string JapaneseSubject = "GPU Jupyter アカウント申請を受け付けました / Your GPU Jupyter account application was received";

    private const string JapaneseBody = """
        山田 太郎 様

        GPU Jupyter アカウントの申請を受け付けました(ユーザー名: yamada-t)。
        担当者が平日に審査し、結果をメールでお知らせします。
        Staff review applications on working days: ①②③ — “quotes” and ✓.
        """;

    [Fact]
    public async Task DispatchDueAsync_QueuedJapaneseMail_ArrivesIntactAtSink()
    {
        var to = SmtpSink.UniqueAddress("ja");
        await Mailer(TimeProvider.System).QueueAsync(Message(to, JapaneseSubject, JapaneseBody), $"test:ja:{to}", CancellationToken.None);

        var result = await Dispatcher(TimeProvider.System).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(new MailDispatchResult(1, 0), result);
        var mail = await SmtpSink.WaitForAsync(to, MailTimeout);
        Assert.Equal(new[] { to }, mail.Recipients);
        Assert.Equal(JapaneseSubject, mail.Subject);
        Assert.Equal(JapaneseBody, mail.Body.TrimEnd('\n'));
        Assert.Contains("<noreply@example.org>", mail.From, StringComparison.Ordinal);
        var row = await SingleRowAsync(to);
        Assert.NotNull(row.SentAt);
        Assert.Equal(1, row.Attempts);
        Assert.Null(row.LastError);
    }

    [Fact]
    public async Task QueueAsync_SameKeyTwice_SendsOneMail()
    {
        var to = SmtpSink.UniqueAddress("twice");
        var mailer = Mailer(TimeProvider.System);
        await mailer.QueueAsync(Message(to, "First", "the first body"), $"test:twice:{to}", CancellationToken.None);
        await mailer.QueueAsync(Message(to, "Second", "the second body"), $"test:twice:{to}", CancellationToken.None);

        var first = await Dispatcher(TimeProvider.System).DispatchDueAsync(CancellationToken.None);
        await mailer.QueueAsync(Message(to, "Third", "after it was sent"), $"test:twice:{to}", CancellationToken.None);
        var second = await Dispatcher(TimeProvider.System).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(1, first.Sent);
        Assert.Equal(0, second.Sent);
        var mail = await SmtpSink.WaitForAsync(to, MailTimeout);
        Assert.Equal("First", mail.Subject);
        // The sink stores a mail before it answers 250, so after the dispatch returned nothing more is on its way.
        Assert.Single(SmtpSink.For(to));
        Assert.Equal(1, await RowCountAsync(to));
    }

    [Fact]
    public async Task QueueAsync_SameKeyTwentyTimesConcurrently_SendsOneMail()
    {
        var to = SmtpSink.UniqueAddress("twenty");
        var mailer = Mailer(TimeProvider.System);

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            mailer.QueueAsync(Message(to, $"Copy {i}", "the same logical mail"), $"test:twenty:{to}", CancellationToken.None))));
        var result = await Dispatcher(TimeProvider.System).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(1, await RowCountAsync(to));
        Assert.Equal(new MailDispatchResult(1, 0), result);
        await SmtpSink.WaitForAsync(to, MailTimeout);
        Assert.Single(SmtpSink.For(to));
    }

    [Fact]
    public async Task DispatchDueAsync_SmtpDownThenBack_KeepsMailAndDeliversOnceDue()
    {
        var clock = new ManualClock(Start);
        var to = SmtpSink.UniqueAddress("outage");
        await Mailer(clock).QueueAsync(Message(to, "Sent after an outage", "still here"), $"test:outage:{to}", CancellationToken.None);

        var down = await Dispatcher(clock, port: ClosedPort).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(new MailDispatchResult(0, 1), down);
        var failed = await SingleRowAsync(to);
        Assert.Null(failed.SentAt);
        Assert.Equal(1, failed.Attempts);
        Assert.False(string.IsNullOrWhiteSpace(failed.LastError));
        Assert.Equal(Start + MailDispatcher.FirstRetryDelay, failed.NextAttemptAt);

        // The server is back, but the mail is not due yet: nothing is sent before its time.
        var early = await Dispatcher(clock).DispatchDueAsync(CancellationToken.None);
        Assert.Equal(new MailDispatchResult(0, 0), early);
        Assert.Empty(SmtpSink.For(to));

        clock.Advance(MailDispatcher.FirstRetryDelay);
        var back = await Dispatcher(clock).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(new MailDispatchResult(1, 0), back);
        var mail = await SmtpSink.WaitForAsync(to, MailTimeout);
        Assert.Equal("still here", mail.Body.TrimEnd('\n'));
        var sent = await SingleRowAsync(to);
        Assert.Equal(clock.GetUtcNow(), sent.SentAt);
        Assert.Equal(2, sent.Attempts);
    }

    [Fact]
    public async Task DispatchDueAsync_RepeatedFailures_BackOffExponentiallyUpToCap()
    {
        var clock = new ManualClock(Start);
        var to = SmtpSink.UniqueAddress("backoff");
        await Mailer(clock).QueueAsync(Message(to, "Backoff", "body"), $"test:backoff:{to}", CancellationToken.None);
        var down = Dispatcher(clock, port: ClosedPort);

        var waits = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            await down.DispatchDueAsync(CancellationToken.None);
            var row = await SingleRowAsync(to);
            Assert.Equal(attempt, row.Attempts);
            waits.Add(row.NextAttemptAt - clock.GetUtcNow());
            clock.Advance(row.NextAttemptAt - clock.GetUtcNow());
        }

        Assert.Equal(new double[] { 5, 10, 20, 40, 80, 160, 320, 640, 900, 900 }, waits.Select(w => w.TotalSeconds));
        Assert.Empty(SmtpSink.For(to));
    }

    [Fact]
    public async Task DispatchDueAsync_TwoDispatchersAtOnce_SendEachMailOnce()
    {
        const int count = 40;
        var recipients = Enumerable.Range(0, count).Select(i => SmtpSink.UniqueAddress($"pair{i}")).ToList();
        var mailer = Mailer(TimeProvider.System);
        foreach (var to in recipients)
        {
            await mailer.QueueAsync(Message(to, "Pair", $"for {to}"), $"test:pair:{to}", CancellationToken.None);
        }
        var first = Dispatcher(TimeProvider.System);
        var second = Dispatcher(TimeProvider.System);

        using var start = new Barrier(2);
        var results = await Task.WhenAll(
            Task.Run(async () =>
            {
                start.SignalAndWait();
                return await first.DispatchDueAsync(CancellationToken.None);
            }),
            Task.Run(async () =>
            {
                start.SignalAndWait();
                return await second.DispatchDueAsync(CancellationToken.None);
            }));

        Assert.Equal(count, results.Sum(r => r.Sent));
        Assert.All(results, r => Assert.Equal(0, r.Failed));
        foreach (var to in recipients)
        {
            await SmtpSink.WaitForAsync(to, MailTimeout);
            Assert.Single(SmtpSink.For(to));
        }
        await using var db = Database.CreateDbContext();
        Assert.Equal(count, await db.OutboxMails.CountAsync(m => m.SentAt != null && m.Attempts == 1));
    }

    [Fact]
    public async Task DispatchDueAsync_SendFails_ErrorNeverContainsBody()
    {
        var to = SmtpSink.UniqueAddress("secretbody");
        var body = $"Your one-time link: https://portal.example.org/credentials/{Guid.NewGuid():N}\nKeep it private.";
        await Mailer(TimeProvider.System).QueueAsync(Message(to, "Credentials", body), $"test:secret:{to}", CancellationToken.None);

        await Dispatcher(TimeProvider.System, port: ClosedPort).DispatchDueAsync(CancellationToken.None);

        var row = await SingleRowAsync(to);
        Assert.NotNull(row.LastError);
        Assert.Contains("SmtpException", row.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain("one-time link", row.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain("/credentials/", row.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain("Keep it private", row.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stage_InCallersTransaction_CommitsOrRollsBackWithIt()
    {
        var rolledBack = SmtpSink.UniqueAddress("rollback");
        var committed = SmtpSink.UniqueAddress("commit");
        await using (var db = Database.CreateDbContext())
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            OutboxMailer.Stage(db, Message(rolledBack, "Never", "rolled back"), $"test:stage:{rolledBack}", Start);
            await db.SaveChangesAsync();
            await transaction.RollbackAsync();
        }
        await using (var db = Database.CreateDbContext())
        {
            OutboxMailer.Stage(db, Message(committed, "Staged", "committed with the state change"), $"test:stage:{committed}", Start);
            Assert.Equal(0, await RowCountAsync(committed)); // nothing before the caller saves
            await db.SaveChangesAsync();
        }

        var result = await Dispatcher(TimeProvider.System).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(new MailDispatchResult(1, 0), result);
        Assert.Equal(0, await RowCountAsync(rolledBack));
        var mail = await SmtpSink.WaitForAsync(committed, MailTimeout);
        Assert.Equal("Staged", mail.Subject);
        Assert.Empty(SmtpSink.For(rolledBack));
    }

    [Fact]
    public async Task Stage_KeyAlreadyQueued_CallersSaveFailsAsDuplicate()
    {
        var to = SmtpSink.UniqueAddress("stagedup");
        await Mailer(TimeProvider.System).QueueAsync(Message(to, "Once", "body"), $"test:stagedup:{to}", CancellationToken.None);

        await using var db = Database.CreateDbContext();
        OutboxMailer.Stage(db, Message(to, "Twice", "body"), $"test:stagedup:{to}", Start);
        var error = await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());

        Assert.True(OutboxMailer.IsDuplicate(error));
        Assert.Equal(1, await RowCountAsync(to));
    }

    [Fact]
    public async Task AddPortalMail_FromConfiguration_QueuesThroughIMailerAndSends()
    {
        var env = TestEnvironment.Current;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mail:SmtpHost"] = env.SmtpHost,
            ["Mail:SmtpPort"] = env.SmtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mail:From"] = "Portal Test <portal-test@example.org>",
        }).Build();
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(TimeProvider.System)
            .AddDbContextFactory<PortalDbContext>(options => options.UseNpgsql(Database.DataSource))
            .AddPortalMail(configuration);
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var to = SmtpSink.UniqueAddress("di");

        await provider.GetRequiredService<IMailer>().QueueAsync(Message(to, "Through DI", "本文"), $"test:di:{to}", CancellationToken.None);
        var result = await provider.GetRequiredService<MailDispatcher>().DispatchDueAsync(CancellationToken.None);

        Assert.Equal(new MailDispatchResult(1, 0), result);
        var mail = await SmtpSink.WaitForAsync(to, MailTimeout);
        Assert.Contains("portal-test@example.org", mail.From, StringComparison.Ordinal);
        Assert.Equal("本文", mail.Body.TrimEnd('\n'));
        Assert.Equal(5, provider.GetRequiredService<IOptions<MailOptions>>().Value.DispatchIntervalSeconds);
    }

    [Fact]
    public async Task PortalIMailer_QueuedWhileRunning_SentByMailJobWithoutWaitingForInterval()
    {
        // The regular run is an hour apart here: only the immediate dispatch that queueing asks for can send the
        // second mail in time (the first may also go with the run at start).
        var portal = new PortalAppFactory(kestrel: false, new Dictionary<string, string?> { ["Mail:DispatchIntervalSeconds"] = "3600" });
        await ((IAsyncLifetime)portal).InitializeAsync();
        try
        {
            var mailer = portal.Services.GetRequiredService<IMailer>();
            var first = SmtpSink.UniqueAddress("job1");
            var second = SmtpSink.UniqueAddress("job2");

            await mailer.QueueAsync(Message(first, "Job", "first"), $"test:job:{first}", CancellationToken.None);
            await SmtpSink.WaitForAsync(first, MailTimeout);
            await mailer.QueueAsync(Message(second, "Job", "second"), $"test:job:{second}", CancellationToken.None);
            var mail = await SmtpSink.WaitForAsync(second, MailTimeout);

            Assert.Equal("second", mail.Body.TrimEnd('\n'));
            // The row is marked sent just after the sink said 250, so poll for it.
            Assert.True(await EventuallyAsync(async () =>
            {
                await using var db = portal.Database.CreateDbContext();
                return await db.OutboxMails.CountAsync(m => m.SentAt != null) == 2;
            }), "both rows marked sent");
        }
        finally
        {
            await ((IAsyncLifetime)portal).DisposeAsync();
        }
    }

    private OutboxMailer Mailer(TimeProvider clock) => new(Database.ContextFactory(), clock);

    private MailDispatcher Dispatcher(TimeProvider clock, int? port = null)
    {
        var env = TestEnvironment.Current;
        var options = new MailOptions { SmtpHost = env.SmtpHost, SmtpPort = port ?? env.SmtpPort, TimeoutSeconds = 10 };
        return new MailDispatcher(Database.ContextFactory(), Options.Create(options), clock, NullLogger<MailDispatcher>.Instance);
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + MailTimeout;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
        return true;
    }

    private static MailMessage Message(string to, string subject, string body) => new(EmailAddress.Parse(to), subject, body);

    private async Task<OutboxMail> SingleRowAsync(string recipient)
    {
        await using var db = Database.CreateDbContext();
        return await db.OutboxMails.AsNoTracking().SingleAsync(m => m.Recipient == recipient);
    }

    private async Task<int> RowCountAsync(string recipient)
    {
        await using var db = Database.CreateDbContext();
        return await db.OutboxMails.CountAsync(m => m.Recipient == recipient);
    }
}
