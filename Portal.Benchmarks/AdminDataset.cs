using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace Portal.Benchmarks;

/// <summary>
/// A university-sized portal database for the admin console's queries, generated from a fixed seed (the same sizes
/// give the same data) and written with COPY: accounts (student numbers like s2400123, Japanese and western names,
/// ~20 departments, mostly students, ~1 % suspended), one user_servers row for each account that ever started a
/// server, server sessions over the last 90 days (five backends, 0–2 GPUs, skewed spawn times of 2–120 s, ~3 % that
/// failed before ready, a few hundred still open; a user's sessions do not overlap), account applications in every
/// state and age, and the audit events of failed provisioning attempts.
/// </summary>
public sealed class AdminDataset
{
    public static readonly string[] Departments =
    [
        "Computer Science", "Information Engineering", "Electrical Engineering", "Mechanical Engineering",
        "Civil Engineering", "Applied Physics", "Mathematics", "Physics", "Chemistry", "Biology",
        "Medicine", "Pharmaceutical Sciences", "Economics", "Management", "Law", "Letters",
        "Education", "Agriculture", "Architecture", "Data Science",
    ];

    public static readonly string[] Backends = ["local", "jupyterhub", "slurm", "docker", "lxd"];

    private static readonly (string Kanji, string Romaji)[] FamilyNames =
    [
        ("佐藤", "Sato"), ("鈴木", "Suzuki"), ("高橋", "Takahashi"), ("田中", "Tanaka"), ("伊藤", "Ito"),
        ("渡辺", "Watanabe"), ("山本", "Yamamoto"), ("中村", "Nakamura"), ("小林", "Kobayashi"), ("加藤", "Kato"),
        ("吉田", "Yoshida"), ("山田", "Yamada"), ("佐々木", "Sasaki"), ("山口", "Yamaguchi"), ("松本", "Matsumoto"),
        ("井上", "Inoue"), ("木村", "Kimura"), ("林", "Hayashi"), ("斎藤", "Saito"), ("清水", "Shimizu"),
        ("山崎", "Yamazaki"), ("森", "Mori"), ("池田", "Ikeda"), ("橋本", "Hashimoto"), ("阿部", "Abe"),
        ("石川", "Ishikawa"), ("山下", "Yamashita"), ("中島", "Nakajima"), ("石井", "Ishii"), ("小川", "Ogawa"),
    ];

    private static readonly (string Kanji, string Romaji)[] GivenNames =
    [
        ("太郎", "Taro"), ("花子", "Hanako"), ("翔太", "Shota"), ("陽菜", "Hina"), ("大翔", "Hiroto"),
        ("結衣", "Yui"), ("蓮", "Ren"), ("美咲", "Misaki"), ("悠真", "Yuma"), ("さくら", "Sakura"),
        ("健太", "Kenta"), ("葵", "Aoi"), ("拓海", "Takumi"), ("彩", "Aya"), ("颯太", "Sota"),
        ("凛", "Rin"), ("直樹", "Naoki"), ("愛", "Ai"), ("優斗", "Yuto"), ("真央", "Mao"),
    ];

    private static readonly string[] WesternGiven =
    [
        "Emma", "Liam", "Olivia", "Noah", "Sophia", "Lucas", "Mia", "Ethan", "Chloe", "Daniel",
        "Anna", "David", "Laura", "Michael", "Sarah", "Thomas", "Julia", "Wei", "Minjun", "Priya",
    ];

    private static readonly string[] WesternFamily =
    [
        "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Martin", "Müller", "Schmidt", "Rossi",
        "Dubois", "Kim", "Lee", "Chen", "Wang", "Nguyen", "Patel", "Silva", "Novak", "Andersson",
    ];

    private static readonly string[] Toolkits = ["12.4", "12.1", "11.8"];

    private AdminDataset(DateTimeOffset now) => Now = now;

    /// <summary>The instant the data was generated relative to (sessions end before it, open ones started before it).</summary>
    public DateTimeOffset Now { get; }

    public List<AccountRow> Accounts { get; } = [];

    public List<SessionRow> Sessions { get; } = [];

    public List<ServerRow> Servers { get; } = [];

    public List<ApplicationRow> Applications { get; } = [];

    public int OpenSessions => Servers.Count(s => s.CurrentSession is not null);

    public sealed record AccountRow(Guid Id, string Username, string DisplayName, string? Email, int Uid, string Role,
        string Status, string Department, DateTimeOffset CreatedAt, DateTimeOffset? LastSignInAt, string FamilyRomaji);

    public struct SessionRow
    {
        public Guid Id;
        public int Account;
        public int Backend;
        public DateTimeOffset RequestedAt;
        public DateTimeOffset? ReadyAt;
        public DateTimeOffset? EndedAt;
        public string Outcome;
        public int GpuCount;
        public string? Toolkit;
        public string? FailureReason;
        public Guid ServerId;
    }

    public sealed class ServerRow
    {
        public Guid Id { get; init; }

        public int Account { get; init; }

        public int Backend { get; init; }

        public Guid? CurrentSession { get; set; }

        public string Observed { get; set; } = "Stopped";

        public DateTimeOffset StateChangedAt { get; set; }

        public DateTimeOffset? StartRequestedAt { get; set; }

        public DateTimeOffset? ReadyAt { get; set; }

        public string? Toolkit { get; set; }

        public string? FailureReason { get; set; }
    }

    public sealed record ApplicationRow(Guid Id, string FullName, string Email, string AffiliationId, string Department,
        string Username, string State, DateTimeOffset SubmittedAt, DateTimeOffset? DecidedAt, int? Uid, int Attempts,
        string? LastError);

    /// <summary>Generates the data in memory (seed 6: the same sizes give the same rows).</summary>
    public static AdminDataset Generate(int accounts, int sessions, DateTimeOffset now)
    {
        var data = new AdminDataset(now);
        var random = new Random(6);
        data.GenerateAccounts(random, accounts);
        data.GenerateSessions(random, sessions);
        data.GenerateApplications(random, Math.Max(50, accounts / 30));
        return data;
    }

    private static Guid NewId(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4, as Guid.NewGuid() makes them
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }

    private void GenerateAccounts(Random random, int count)
    {
        var perYear = new int[7]; // entrance years 2019..2025 -> s19xxxxx..s25xxxxx
        var staffNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var roleDraw = random.NextDouble();
            var role = roleDraw < 0.95 ? "Student" : roleDraw < 0.995 ? "Staff" : "Admin";
            var family = FamilyNames[random.Next(FamilyNames.Length)];
            var given = GivenNames[random.Next(GivenNames.Length)];
            var nameDraw = random.NextDouble();
            string displayName, familyRomaji;
            if (nameDraw < 0.7)
            {
                displayName = $"{family.Kanji} {given.Kanji}";
                familyRomaji = family.Romaji;
            }
            else if (nameDraw < 0.85)
            {
                displayName = $"{given.Romaji} {family.Romaji}";
                familyRomaji = family.Romaji;
            }
            else
            {
                familyRomaji = WesternFamily[random.Next(WesternFamily.Length)];
                displayName = $"{WesternGiven[random.Next(WesternGiven.Length)]} {familyRomaji}";
            }

            string username, email;
            DateTimeOffset created;
            if (role == "Student")
            {
                var year = random.Next(7);
                perYear[year]++;
                username = string.Create(CultureInfo.InvariantCulture, $"s{19 + year}{perYear[year]:D5}");
                email = $"{username}@st.example.ac.jp";
                created = new DateTimeOffset(2019 + year, 4, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(60 * 24 * 60));
            }
            else
            {
                var stem = familyRomaji.ToLowerInvariant().Replace("ü", "ue", StringComparison.Ordinal);
                var n = 1;
                while (!staffNames.Add(username = string.Create(CultureInfo.InvariantCulture, $"{stem}{n}")))
                {
                    n++;
                }
                email = $"{username}@example.ac.jp";
                created = Now.AddDays(-random.Next(30, 3000));
            }
            if (created > Now.AddDays(-1))
            {
                created = Now.AddDays(-1);
            }
            var lastSignIn = random.NextDouble() < 0.8 ? Now.AddMinutes(-random.Next(60 * 24 * 90)) : (DateTimeOffset?)null;
            Accounts.Add(new AccountRow(NewId(random), username, displayName, random.NextDouble() < 0.02 ? null : email,
                10_000 + i, role, random.NextDouble() < 0.01 ? "Suspended" : "Active",
                Departments[random.Next(Departments.Length)], created, lastSignIn, familyRomaji));
        }
    }

    private void GenerateSessions(Random random, int count)
    {
        if (count == 0 || Accounts.Count == 0)
        {
            return;
        }
        // 40 % of the accounts ever started a server; a few of them account for most sessions.
        var active = Math.Max(1, Accounts.Count * 2 / 5);
        var chosen = Enumerable.Range(0, Accounts.Count).OrderBy(_ => random.Next()).Take(active).ToArray();
        var backendOf = chosen.Select(_ => PickBackend(random)).ToArray();
        var window = TimeSpan.FromDays(90);
        var sessions = new SessionRow[count];
        for (var i = 0; i < count; i++)
        {
            var u = random.NextDouble();
            var who = (int)(active * u * u); // skewed: low indexes are the heavy users
            var requested = DaytimeInstant(random, window);
            var spawn = TimeSpan.FromSeconds(2 + (118 * Math.Pow(random.NextDouble(), 3)));
            var gpuDraw = random.NextDouble();
            var session = new SessionRow
            {
                Id = NewId(random),
                Account = chosen[who],
                Backend = random.NextDouble() < 0.9 ? backendOf[who] : PickBackend(random),
                RequestedAt = requested,
                GpuCount = gpuDraw < 0.5 ? 0 : gpuDraw < 0.9 ? 1 : 2,
                Toolkit = random.NextDouble() < 0.15 ? null : Toolkits[random.Next(Toolkits.Length)],
            };
            var outcome = random.NextDouble();
            if (outcome < 0.03)
            {
                // never ready: the start failed or timed out
                session.EndedAt = requested + TimeSpan.FromSeconds(random.Next(5, 300));
                session.Outcome = "Failed";
                session.FailureReason = random.NextDouble() < 0.5 ? "The server did not become ready within 300 s." : "The backend refused the start: no free GPU.";
            }
            else
            {
                session.ReadyAt = requested + spawn;
                var minutes = Math.Clamp(Math.Exp(Math.Log(90) + (NextGaussian(random) * 1.0)), 5, 24 * 60);
                session.EndedAt = session.ReadyAt + TimeSpan.FromMinutes(minutes);
                session.Outcome = random.NextDouble() < 0.005 ? "Failed" : "Stopped";
                session.FailureReason = session.Outcome == "Failed" ? "The server stopped answering." : null;
            }
            sessions[i] = session;
        }

        // A person has one server: a session ends before that person's next one starts.
        Array.Sort(sessions, (a, b) => a.Account != b.Account ? a.Account.CompareTo(b.Account) : a.RequestedAt.CompareTo(b.RequestedAt));
        var latest = Now.AddMinutes(-1);
        for (var i = 0; i < sessions.Length; i++)
        {
            ref var s = ref sessions[i];
            var next = i + 1 < sessions.Length && sessions[i + 1].Account == s.Account ? sessions[i + 1].RequestedAt : latest;
            if (s.EndedAt > next.AddSeconds(-1))
            {
                s.EndedAt = next.AddSeconds(-1);
            }
            if (s.ReadyAt is { } ready && ready >= s.EndedAt)
            {
                s.EndedAt = ready.AddSeconds(1);
            }
        }

        // The servers: one per person with sessions; a few hundred of them are open now (the person's last session).
        var wantOpen = Math.Max(5, count * 3 / 10_000);
        var lastOf = new Dictionary<int, int>();
        for (var i = 0; i < sessions.Length; i++)
        {
            lastOf[sessions[i].Account] = i;
        }
        foreach (var (account, last) in lastOf)
        {
            ref var s = ref sessions[last];
            var server = new ServerRow
            {
                Id = NewId(random),
                Account = account,
                Backend = s.Backend,
                Toolkit = s.Toolkit,
                StartRequestedAt = s.RequestedAt,
                ReadyAt = s.ReadyAt,
                StateChangedAt = s.EndedAt ?? s.RequestedAt,
            };
            var previousEnd = last > 0 && sessions[last - 1].Account == account ? sessions[last - 1].EndedAt : null;
            if (wantOpen > 0 && random.NextDouble() < 0.05)
            {
                var requested = Now - TimeSpan.FromMinutes(random.Next(2, 8 * 60));
                if (previousEnd is null || requested > previousEnd)
                {
                    wantOpen--;
                    s.RequestedAt = requested;
                    s.EndedAt = null;
                    s.Outcome = "Open";
                    s.FailureReason = null;
                    var starting = random.NextDouble() < 0.1;
                    s.ReadyAt = starting ? null : requested + TimeSpan.FromSeconds(2 + (118 * Math.Pow(random.NextDouble(), 3)));
                    if (starting)
                    {
                        s.RequestedAt = Now - TimeSpan.FromSeconds(random.Next(5, 100));
                    }
                    server.CurrentSession = s.Id;
                    server.Observed = starting ? "StartPending" : "Running";
                    server.StartRequestedAt = s.RequestedAt;
                    server.ReadyAt = s.ReadyAt;
                    server.StateChangedAt = s.ReadyAt ?? s.RequestedAt;
                }
            }
            if (server.CurrentSession is null && s.Outcome == "Failed")
            {
                server.Observed = "Failed";
                server.FailureReason = s.FailureReason;
            }
            Servers.Add(server);
        }
        var serverOf = Servers.ToDictionary(s => s.Account, s => s.Id);
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i].ServerId = serverOf[sessions[i].Account];
        }

        // Written in the order they happened, as the portal appends them.
        Array.Sort(sessions, (a, b) => a.RequestedAt.CompareTo(b.RequestedAt));
        Sessions.AddRange(sessions);
    }

    private static int PickBackend(Random random)
    {
        var d = random.NextDouble();
        return d < 0.35 ? 1 : d < 0.6 ? 2 : d < 0.8 ? 3 : d < 0.9 ? 4 : 0;
    }

    /// <summary>An instant in the last <paramref name="window"/> (until 30 minutes ago), mostly 8:00–23:00 JST.</summary>
    private DateTimeOffset DaytimeInstant(Random random, TimeSpan window)
    {
        while (true)
        {
            var t = Now - TimeSpan.FromMinutes(30) - (window * random.NextDouble());
            var jstHour = (t.UtcDateTime.Hour + 9) % 24;
            if (jstHour is >= 8 and < 23 || random.NextDouble() < 0.2)
            {
                return t;
            }
        }
    }

    private static double NextGaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private void GenerateApplications(Random random, int count)
    {
        var applicants = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var d = random.NextDouble();
            var state = d < 0.70 ? "Provisioned" : d < 0.80 ? "Rejected" : d < 0.85 ? "Withdrawn" : d < 0.93 ? "Submitted" : d < 0.96 ? "Approved" : "ProvisioningFailed";
            var open = state is "Submitted" or "Approved" or "ProvisioningFailed";
            var age = open ? TimeSpan.FromHours(random.Next(1, 24 * 14)) : TimeSpan.FromHours(random.Next(24, 24 * 180));
            var submitted = Now - age;
            var family = FamilyNames[random.Next(FamilyNames.Length)];
            var given = GivenNames[random.Next(GivenNames.Length)];
            string username;
            int? uid = null;
            if (state == "Provisioned" && i < Accounts.Count)
            {
                username = Accounts[i].Username; // the account it became
                uid = Accounts[i].Uid;
            }
            else
            {
                while (!applicants.Add(username = string.Create(CultureInfo.InvariantCulture, $"s26{random.Next(100_000):D5}")))
                {
                }
            }
            DateTimeOffset? decided = state == "Submitted" ? null : submitted + TimeSpan.FromHours(Math.Min(age.TotalHours / 2, random.Next(1, 72)));
            Applications.Add(new ApplicationRow(NewId(random), $"{family.Kanji} {given.Kanji}", $"{username}@st.example.ac.jp",
                username[1..], Departments[random.Next(Departments.Length)], username, state, submitted, decided, uid,
                state == "ProvisioningFailed" ? random.Next(1, 6) : state == "Provisioned" ? 1 : 0,
                state == "ProvisioningFailed" ? "LDAP: server unavailable" : null));
        }
    }

    /// <summary>Writes everything with binary COPY and runs ANALYZE; returns the time each table took.</summary>
    public async Task<IReadOnlyList<(string Table, int Rows, TimeSpan Elapsed)>> LoadAsync(NpgsqlDataSource dataSource)
    {
        var times = new List<(string, int, TimeSpan)>();
        await using var connection = await dataSource.OpenConnectionAsync();
        var clock = Stopwatch.StartNew();

        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY accounts (id, username, display_name, email, uid_number, role, status, must_change_password, " +
            "accepted_terms_version, created_at, last_sign_in_at, department) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var a in Accounts)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(a.Id, NpgsqlDbType.Uuid);
                await copy.WriteAsync(a.Username, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.DisplayName, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, a.Email, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Uid, NpgsqlDbType.Integer);
                await copy.WriteAsync(a.Role, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Status, NpgsqlDbType.Varchar);
                await copy.WriteAsync(false, NpgsqlDbType.Boolean);
                await copy.WriteAsync(1, NpgsqlDbType.Integer);
                await copy.WriteAsync(a.CreatedAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, a.LastSignInAt, NpgsqlDbType.TimestampTz);
                await copy.WriteAsync(a.Department, NpgsqlDbType.Varchar);
            }
            await copy.CompleteAsync();
        }
        times.Add(("accounts", Accounts.Count, clock.Elapsed));

        clock.Restart();
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY user_servers (id, username, backend, backend_reference, url, cuda_toolkit, desired_state, observed_state, " +
            "state_changed_at, start_requested_at, ready_at, last_activity_at, failure_reason, attempts, progress_percent, " +
            "progress_message, current_session_id, version) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var s in Servers)
            {
                var username = Accounts[s.Account].Username;
                var up = s.Observed is "Running" or "StartPending";
                await copy.StartRowAsync();
                await copy.WriteAsync(s.Id, NpgsqlDbType.Uuid);
                await copy.WriteAsync(username, NpgsqlDbType.Varchar);
                await copy.WriteAsync(Backends[s.Backend], NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, up ? $"{Backends[s.Backend]}:{username}" : null, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, s.Observed == "Running" ? $"https://jupyter.example.ac.jp/user/{username}/" : null, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, s.Toolkit, NpgsqlDbType.Varchar);
                await copy.WriteAsync(up ? "Running" : "Stopped", NpgsqlDbType.Varchar);
                await copy.WriteAsync(s.Observed, NpgsqlDbType.Varchar);
                await copy.WriteAsync(s.StateChangedAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, s.StartRequestedAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, s.ReadyAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, s.Observed == "Running" ? Now.AddMinutes(-3) : (DateTimeOffset?)null, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, s.FailureReason, NpgsqlDbType.Varchar);
                await copy.WriteAsync(s.Observed == "Failed" ? 1 : 0, NpgsqlDbType.Integer);
                await copy.WriteAsync(s.Observed == "StartPending" ? 40 : 100, NpgsqlDbType.Integer);
                await WriteNullableAsync(copy, s.Observed == "StartPending" ? "Waiting for the server to answer" : null, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, s.CurrentSession, NpgsqlDbType.Uuid);
                await copy.WriteAsync(1, NpgsqlDbType.Integer);
            }
            await copy.CompleteAsync();
        }
        times.Add(("user_servers", Servers.Count, clock.Elapsed));

        clock.Restart();
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY server_sessions (id, server_id, username, backend, requested_at, ready_at, ended_at, outcome, gpu_count, " +
            "cuda_toolkit, failure_reason) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var s in Sessions)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(s.Id, NpgsqlDbType.Uuid);
                await copy.WriteAsync(s.ServerId, NpgsqlDbType.Uuid);
                await copy.WriteAsync(Accounts[s.Account].Username, NpgsqlDbType.Varchar);
                await copy.WriteAsync(Backends[s.Backend], NpgsqlDbType.Varchar);
                await copy.WriteAsync(s.RequestedAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, s.ReadyAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, s.EndedAt, NpgsqlDbType.TimestampTz);
                await copy.WriteAsync(s.Outcome, NpgsqlDbType.Varchar);
                await copy.WriteAsync(s.GpuCount, NpgsqlDbType.Integer);
                await WriteNullableAsync(copy, s.Toolkit, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, s.FailureReason, NpgsqlDbType.Varchar);
            }
            await copy.CompleteAsync();
        }
        times.Add(("server_sessions", Sessions.Count, clock.Elapsed));

        clock.Restart();
        var events = 0;
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY account_applications (id, full_name, email, affiliation_id, department, desired_username, purpose, " +
            "accepted_terms_version, state, submitted_at, source_address, status_token_hash, decided_by, decided_at, " +
            "rejection_reason, withdrawn_at, uid_number, provisioned_at, provisioning_attempts, last_provisioning_error, " +
            "next_provisioning_attempt_at, version) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var a in Applications)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(a.Id, NpgsqlDbType.Uuid);
                await copy.WriteAsync(a.FullName, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Email, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.AffiliationId, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Department, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Username, NpgsqlDbType.Varchar);
                await copy.WriteAsync("Coursework in machine learning (GPU notebooks).", NpgsqlDbType.Varchar);
                await copy.WriteAsync(1, NpgsqlDbType.Integer);
                await copy.WriteAsync(a.State, NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.SubmittedAt, NpgsqlDbType.TimestampTz);
                await copy.WriteAsync("192.0.2.10", NpgsqlDbType.Varchar);
                await copy.WriteAsync(a.Id.ToString("N") + a.Id.ToString("N"), NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, a.DecidedAt is null || a.State == "Withdrawn" ? null : "reviewer1", NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, a.State == "Withdrawn" ? null : a.DecidedAt, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, a.State == "Rejected" ? "Not enrolled in a course that uses the service." : null, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, a.State == "Withdrawn" ? a.DecidedAt : null, NpgsqlDbType.TimestampTz);
                await WriteNullableAsync(copy, a.Uid, NpgsqlDbType.Integer);
                await WriteNullableAsync(copy, a.State == "Provisioned" ? a.DecidedAt?.AddMinutes(1) : null, NpgsqlDbType.TimestampTz);
                await copy.WriteAsync(a.Attempts, NpgsqlDbType.Integer);
                await WriteNullableAsync(copy, a.LastError, NpgsqlDbType.Varchar);
                await WriteNullableAsync(copy, a.State == "ProvisioningFailed" ? Now.AddMinutes(10) : (DateTimeOffset?)null, NpgsqlDbType.TimestampTz);
                await copy.WriteAsync(1, NpgsqlDbType.Integer);
            }
            await copy.CompleteAsync();
        }
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY audit_events (occurred_at, actor, action, target, data) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var a in Applications.Where(a => a.LastError is not null))
            {
                for (var attempt = 0; attempt < a.Attempts; attempt++)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync((a.DecidedAt ?? a.SubmittedAt).AddMinutes(attempt * 30), NpgsqlDbType.TimestampTz);
                    await copy.WriteAsync("(system)", NpgsqlDbType.Varchar);
                    await copy.WriteAsync("application.provisioning-failed", NpgsqlDbType.Varchar);
                    await copy.WriteAsync(a.Id.ToString(), NpgsqlDbType.Varchar);
                    await copy.WriteAsync("{\"error\": \"LDAP: server unavailable\"}", NpgsqlDbType.Jsonb);
                    events++;
                }
            }
            await copy.CompleteAsync();
        }
        times.Add(("account_applications + audit", Applications.Count + events, clock.Elapsed));

        clock.Restart();
        await using (var analyze = new NpgsqlCommand("ANALYZE", connection) { CommandTimeout = 0 })
        {
            await analyze.ExecuteNonQueryAsync();
        }
        times.Add(("ANALYZE", 0, clock.Elapsed));
        return times;
    }

    private static Task WriteNullableAsync<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type)
        where T : class =>
        value is null ? copy.WriteNullAsync() : copy.WriteAsync(value, type);

    private static Task WriteNullableAsync<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type)
        where T : struct =>
        value is { } v ? copy.WriteAsync(v, type) : copy.WriteNullAsync();
}
