using System.Diagnostics;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Admin.Users;
using Portal.Tests.Support;
using Xunit.Abstractions;

namespace Portal.Tests.Admin;

/// <summary>The user search in the database: each filter narrows, paging totals, literal text, and the trigram indexes at 100k accounts.</summary>
public sealed class UserSearchTests(ITestOutputHelper output) : MigratedDatabaseTest
{
    private UserAdminServices _services = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new UserAdminServices(Database);
    }

    public override async Task DisposeAsync()
    {
        _services.Dispose();
        await base.DisposeAsync();
    }

    private Task<UserPage> SearchAsync(UserSearch query) => _services.Admin.SearchAsync(query, CancellationToken.None);

    private async Task ExecuteAsync(string sql)
    {
        await using var command = Database.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private async Task AddAsync(string username, string displayName, string? email, Role role = Role.Student,
        AccountStatus status = AccountStatus.Active, string? department = null, ServerState? server = null)
    {
        await using var command = Database.DataSource.CreateCommand("""
            INSERT INTO accounts (id, username, display_name, email, role, status, must_change_password, created_at, department)
            VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, false, now(), $6)
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = username });
        command.Parameters.Add(new NpgsqlParameter { Value = displayName });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)email ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter { Value = role.ToString() });
        command.Parameters.Add(new NpgsqlParameter { Value = status.ToString() });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)department ?? DBNull.Value });
        await command.ExecuteNonQueryAsync();
        if (server is { } state)
        {
            await using var insert = Database.DataSource.CreateCommand("""
                INSERT INTO user_servers (id, username, backend, desired_state, observed_state, state_changed_at, attempts, progress_percent, version)
                VALUES (gen_random_uuid(), $1, 'local', $2, $3, now(), 0, 0, 1)
                """);
            insert.Parameters.Add(new NpgsqlParameter { Value = username });
            insert.Parameters.Add(new NpgsqlParameter { Value = state == ServerState.Stopped ? "Stopped" : "Running" });
            insert.Parameters.Add(new NpgsqlParameter { Value = state.ToString() });
            await insert.ExecuteNonQueryAsync();
        }
    }

    private async Task SeedAsync()
    {
        await AddAsync("alice", "Alice Tanaka", "alice@keio.jp", department: "Science", server: ServerState.Running);
        await AddAsync("bob", "Bob Suzuki", "bob@example.org", Role.Staff, department: "Science", server: ServerState.Stopped);
        await AddAsync("carol", "Carol ALICEson", null, Role.Admin, department: "Engineering");
        await AddAsync("dave", "Dave Sato", "dave@KEIO.jp", status: AccountStatus.Suspended, department: "Engineering", server: ServerState.Running);
        await AddAsync("erin", "Erin Ito", "erin@example.org", department: "Law");
    }

    private static string[] Names(UserPage page) => [.. page.Items.Select(i => i.Username)];

    [Fact]
    public async Task Search_Text_MatchesUsernameDisplayNameAndEmailCaseInsensitively()
    {
        await SeedAsync();

        Assert.Equal(["alice", "carol"], Names(await SearchAsync(new UserSearch("ALICE"))));
        Assert.Equal(["alice", "dave"], Names(await SearchAsync(new UserSearch("keio.JP"))));
        Assert.Equal(["bob"], Names(await SearchAsync(new UserSearch(" suzuki "))));
        Assert.Empty((await SearchAsync(new UserSearch("nobody"))).Items);
        Assert.Equal(5, (await SearchAsync(new UserSearch(""))).Total);
    }

    [Fact]
    public async Task Search_EachFilter_Narrows()
    {
        await SeedAsync();

        Assert.Equal(["bob"], Names(await SearchAsync(new UserSearch(Role: Role.Staff))));
        Assert.Equal(["carol"], Names(await SearchAsync(new UserSearch(Role: Role.Admin))));
        Assert.Equal(["dave"], Names(await SearchAsync(new UserSearch(Status: AccountStatus.Suspended))));
        Assert.Equal(["carol", "dave"], Names(await SearchAsync(new UserSearch(Department: "Engineering"))));
        Assert.Equal(["alice", "dave"], Names(await SearchAsync(new UserSearch(HasRunningServer: true))));
        Assert.Equal(["bob", "carol", "erin"], Names(await SearchAsync(new UserSearch(HasRunningServer: false))));
        Assert.Equal(["alice"], Names(await SearchAsync(new UserSearch("keio", Status: AccountStatus.Active, HasRunningServer: true, Department: "Science"))));

        var alice = (await SearchAsync(new UserSearch("alice@"))).Items.Single();
        Assert.Equal(new UserRow("alice", "Alice Tanaka", "alice@keio.jp", Role.Student, AccountStatus.Active, "Science", null, ServerState.Running), alice);
        Assert.Null((await SearchAsync(new UserSearch("erin"))).Items.Single().ServerState);
    }

    [Fact]
    public async Task Search_Paging_StableOrderTotalsAndCappedLimit()
    {
        await ExecuteAsync("""
            INSERT INTO accounts (id, username, display_name, email, role, status, must_change_password, created_at)
            SELECT gen_random_uuid(), 'user' || lpad(i::text, 3, '0'), 'User ' || i, 'user' || i || '@example.org', 'Student', 'Active', false, now()
            FROM generate_series(1, 250) i
            """);

        var second = await SearchAsync(new UserSearch("user", Offset: 10, Limit: 10));
        var all = await SearchAsync(new UserSearch(Limit: 10_000));

        Assert.Equal(250, second.Total);
        Assert.Equal([.. Enumerable.Range(11, 10).Select(i => $"user{i:000}")], Names(second));
        Assert.Equal(UserSearch.MaxLimit, all.Items.Count);
        Assert.Equal(250, all.Total);
        var last = await SearchAsync(new UserSearch(Offset: 240, Limit: 50));
        Assert.Equal(10, last.Items.Count);
        Assert.Equal("user250", last.Items[^1].Username);
    }

    [Theory]
    [InlineData("%", new[] { "percent" })]
    [InlineData("_", new[] { "under_score" })]
    [InlineData("50%", new[] { "percent" })]
    [InlineData("\\", new[] { "backslash" })]
    public async Task Search_LikeMetacharacters_MatchLiterally(string text, string[] expected)
    {
        await AddAsync("percent", "Sale 50% off", null);
        await AddAsync("under_score", "Under Score", null);
        await AddAsync("plain", "Fifty Zero", "plain@example.org");
        await AddAsync("backslash", "Back \\ Slash", null);

        Assert.Equal(expected, Names(await SearchAsync(new UserSearch(text))));
    }

    [Fact]
    public async Task Search_100kAccounts_UsesTrigramIndexes()
    {
        await ExecuteAsync("""
            INSERT INTO accounts (id, username, display_name, email, role, status, must_change_password, created_at, department)
            SELECT gen_random_uuid(), 'u' || md5(i::text)::varchar(12), 'Person ' || md5((i * 7)::text)::varchar(10), 'p' || i || '@example.org',
                   (ARRAY['Student', 'Student', 'Student', 'Staff', 'Admin'])[1 + i % 5], CASE WHEN i % 50 = 0 THEN 'Suspended' ELSE 'Active' END,
                   false, now(), (ARRAY['Science', 'Engineering', 'Law', 'Medicine'])[1 + i % 4]
            FROM generate_series(1, 100000) i;
            ANALYZE accounts;
            """);
        var text = "ab12";
        var pattern = $"%{text}%";

        var plan = new List<string>();
        await using (var explain = Database.DataSource.CreateCommand($"""
            EXPLAIN (ANALYZE, BUFFERS) SELECT a.username FROM accounts a
            WHERE (lower(a.username) LIKE '{pattern}' OR lower(a.display_name) LIKE '{pattern}' OR lower(a.email) LIKE '{pattern}')
            ORDER BY a.username LIMIT 50
            """))
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }
        output.WriteLine(string.Join('\n', plan));
        var joined = string.Join('\n', plan);
        Assert.Contains("ix_accounts_username_trgm", joined, StringComparison.Ordinal);
        Assert.Contains("ix_accounts_display_name_trgm", joined, StringComparison.Ordinal);
        Assert.Contains("ix_accounts_email_trgm", joined, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", joined, StringComparison.Ordinal);

        await SearchAsync(new UserSearch(text)); // warm up
        var watch = Stopwatch.StartNew();
        var page = await SearchAsync(new UserSearch(text, Limit: 50));
        var textTime = watch.Elapsed;
        watch.Restart();
        var filtered = await SearchAsync(new UserSearch(Role: Role.Student, Status: AccountStatus.Suspended, Department: "Science", Limit: 50));
        var filterTime = watch.Elapsed;
        watch.Restart();
        var everyone = await SearchAsync(new UserSearch(Offset: 50_000, Limit: 50));
        var deepPageTime = watch.Elapsed;
        output.WriteLine($"text '{text}': {page.Total} matches in {textTime.TotalMilliseconds:F1} ms; role+status: {filtered.Total} in {filterTime.TotalMilliseconds:F1} ms; page at offset 50000 of {everyone.Total} in {deepPageTime.TotalMilliseconds:F1} ms");
        Assert.True(page.Total > 0);
        Assert.Equal(100_000, everyone.Total);
        Assert.Equal(1_000, filtered.Total);
        Assert.All(page.Items, i => Assert.True(
            i.Username.Contains(text, StringComparison.Ordinal) || i.DisplayName.Contains(text, StringComparison.Ordinal) || i.Email!.Contains(text, StringComparison.Ordinal)));
    }
}
