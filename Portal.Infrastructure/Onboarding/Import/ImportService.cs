using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Domain.Onboarding;
using Portal.Domain.Onboarding.Import;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Onboarding.Import;

/// <summary>The outcome of an upload: a previewed batch, or why the file as a whole was refused.</summary>
public sealed record ImportPreviewResult(ImportBatch? Batch, string? FileProblem, string? FileProblemDetail, ImportBatch? EarlierConfirmedSameFile);

public abstract record ImportConfirmResult
{
    private ImportConfirmResult()
    {
    }

    public sealed record Confirmed(int Created, int Existing, int Invalid) : ImportConfirmResult;

    /// <summary>Somebody (or another click) confirmed this batch first; nothing was created now.</summary>
    public sealed record AlreadyConfirmed(string? By, DateTimeOffset? At) : ImportConfirmResult;

    public sealed record NotFound : ImportConfirmResult;
}

/// <summary>How a row stands now, provisioning included.</summary>
public enum ImportRowStatus
{
    Invalid,
    Ready,
    AlreadyExists,
    Pending,
    Provisioned,
    Failed,
}

public sealed record ImportRowView(ImportRow Row, ImportRowStatus Status, string? ProvisioningError);

/// <summary>A batch, how many of its rows stand where, and another confirmed batch of the same file (same SHA-256), if any.</summary>
public sealed record ImportBatchView(ImportBatch Batch, IReadOnlyDictionary<ImportRowStatus, int> Counts, ImportBatch? SameFileConfirmed);

/// <summary>
/// Bulk onboarding (admins): a CSV file is read and every row checked with the application form's rules, against the
/// file itself, the portal's accounts and applications and LDAP (usernames, and emails: one person, one account); confirming creates one approved application per good
/// row and asks provisioning to run. Rows whose person is already there are skipped, so a file imported twice creates
/// nobody twice; a transaction-scoped lock serialises confirmations.
/// </summary>
public sealed class ImportService(
    IDbContextFactory<PortalDbContext> contexts,
    IDirectoryProvisioning directory,
    IJobTrigger jobs,
    IOptions<OnboardingOptions> options,
    AuditLog audit,
    TimeProvider clock)
{
    // Any value no other advisory lock of the portal uses ("import" in ASCII).
    private const long ConfirmLockKey = 0x696d706f7274;
    private const string UsernamePlaceholder = "importplaceholder";

    private static readonly ApplicationState[] OpenStates =
        [ApplicationState.Submitted, ApplicationState.Approved, ApplicationState.ProvisioningFailed];

    public async Task<ImportPreviewResult> PreviewAsync(byte[] content, string? fileName, Username admin, string? sourceAddress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        // The name is only a label (the page gets it from the browser): control characters are dropped, not stored or audited.
        fileName = ControlCharacters.Remove(fileName);
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        var read = ImportCsv.Read(content);
        var now = clock.GetUtcNow();
        if (read.FileProblem is not null)
        {
            await audit.RecordAsync(new AuditActor(admin.Value, sourceAddress), "admin.import.preview", null,
                new { file = fileName, hash, bytes = content.Length, refused = read.FileProblem, detail = read.FileProblemDetail }, cancellationToken);
            return new ImportPreviewResult(null, read.FileProblem, read.FileProblemDetail, null);
        }

        var batchId = Guid.NewGuid();
        var checkedRows = await CheckAsync(read.Records, batchId, cancellationToken);
        var batch = ImportBatch.Preview(batchId, fileName, hash, admin, now, checkedRows.Count,
            checkedRows.Count(r => r.Result == ImportRowResult.Ready), checkedRows.Count(r => r.Result == ImportRowResult.Invalid),
            checkedRows.Count(r => r.Result == ImportRowResult.AlreadyExists));
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var earlier = await db.ImportBatches.AsNoTracking().Where(b => b.FileHash == hash && b.ConfirmedAt != null)
            .OrderBy(b => b.ConfirmedAt).FirstOrDefaultAsync(cancellationToken);
        db.ImportBatches.Add(batch);
        db.ImportRows.AddRange(checkedRows.Select(r => ImportRow.Create(batchId, r.RowNumber, r.Name, r.Email, r.Id, r.Department,
            r.Username, r.UsernameProposed, r.Problems, r.Result)));
        AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), "admin.import.preview", BatchTarget(batchId),
            new { file = batch.FileName, hash, total = batch.TotalRows, ready = batch.ReadyRows, invalid = batch.InvalidRows, existing = batch.ExistingRows, sameFileImportedIn = earlier?.Id }, now);
        await db.SaveChangesAsync(cancellationToken);
        return new ImportPreviewResult(batch, null, null, earlier);
    }

    /// <summary>
    /// Creates an approved application for every row still good; rows whose person is there by now are skipped and
    /// rows whose username was taken meanwhile become invalid. A batch is confirmed once, however often asked.
    /// </summary>
    public async Task<ImportConfirmResult> ConfirmAsync(Guid batchId, Username admin, string? sourceAddress, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var createdIds = new List<Guid>();
                var result = await ConfirmOnceAsync(batchId, admin, sourceAddress, createdIds, cancellationToken);
                // One job per created application, as an approval asks; a sweep asked for now could be dropped by one
                // already running that read the applications before this commit.
                foreach (var id in createdIds)
                {
                    await jobs.RunSoonAsync(JobRequest.Provisioning(id), cancellationToken);
                }
                return result;
            }
            catch (DbUpdateException e) when (attempt < 3 && e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
            {
                // An applicant took a username or email through /apply between our check and our insert; the
                // transaction rolled back, and the next attempt sees their application.
            }
        }
    }

    private async Task<ImportConfirmResult> ConfirmOnceAsync(Guid batchId, Username admin, string? sourceAddress, List<Guid> createdIds,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // One confirmation at a time, portal-wide: two clicks, two admins, two batches of the same file.
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({ConfirmLockKey})", cancellationToken);
        var batch = await db.ImportBatches.SingleOrDefaultAsync(b => b.Id == batchId, cancellationToken);
        if (batch is null)
        {
            return new ImportConfirmResult.NotFound();
        }
        if (batch.IsConfirmed)
        {
            return new ImportConfirmResult.AlreadyConfirmed(batch.ConfirmedBy, batch.ConfirmedAt);
        }
        var rows = await db.ImportRows.Where(r => r.BatchId == batchId && r.Result == ImportRowResult.Ready)
            .OrderBy(r => r.RowNumber).ToListAsync(cancellationToken);
        var known = await KnownAsync(db, rows.Select(r => r.Email!), rows.Select(r => r.Username!), cancellationToken);
        var now = clock.GetUtcNow();
        var created = 0;
        foreach (var row in rows)
        {
            var (form, errors) = ApplicationForm.Validate(row.FullName, row.Email, row.AffiliationId, row.Department, row.Username,
                AccountApplication.ImportPurpose(batchId), acceptedTerms: true, options.Value.AllowedEmailDomains);
            if (form is null)
            {
                // The rules changed since the preview (an email domain no longer allowed).
                var first = errors[0];
                row.MarkInvalid(new ImportProblem(Column(first.Field), first.Code));
                continue;
            }
            switch (await StandingAsync(known, form.Email, form.DesiredUsername, cancellationToken))
            {
                case { Existing: { } reason }:
                    row.MarkExisting(reason);
                    continue;
                case { Problem: { } problem }:
                    row.MarkInvalid(problem);
                    continue;
                default:
                    break;
            }
            var application = AccountApplication.Import(form, batchId, admin, now, SecretTokens.Hash(SecretTokens.NewToken()));
            db.Applications.Add(application);
            row.MarkCreated(application.Id);
            known.Add(new KnownPerson(form.Email.Value.ToLowerInvariant(), form.DesiredUsername.Value, ApplicationState.Approved, IsAccount: false));
            AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), "application.imported", ProvisioningService.ApplicationTarget(application.Id),
                new { batch = batchId, row = row.RowNumber, username = form.DesiredUsername.Value, email = form.Email.Value, department = form.Department }, now);
            created++;
        }
        var counts = await db.ImportRows.Where(r => r.BatchId == batchId).GroupBy(r => r.Result)
            .Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(g => g.Key, g => g.Count, cancellationToken);
        // The counts above are from before this run's changes; recount from the tracked rows for the ones it moved.
        var invalid = counts.GetValueOrDefault(ImportRowResult.Invalid) + rows.Count(r => r.Result == ImportRowResult.Invalid);
        var existing = counts.GetValueOrDefault(ImportRowResult.AlreadyExists) + rows.Count(r => r.Result == ImportRowResult.AlreadyExists);
        batch.Confirm(admin, now, created, ready: 0, invalid, existing);
        AuditLog.Stage(db, new AuditActor(admin.Value, sourceAddress), "admin.import.confirm", BatchTarget(batchId),
            new { file = batch.FileName, hash = batch.FileHash, total = batch.TotalRows, created, existing, invalid }, now);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        createdIds.AddRange(rows.Where(r => r.Result == ImportRowResult.Created).Select(r => r.ApplicationId!.Value));
        return new ImportConfirmResult.Confirmed(created, existing, invalid);
    }

    public async Task<ImportBatchView?> BatchAsync(Guid batchId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var batch = await db.ImportBatches.AsNoTracking().SingleOrDefaultAsync(b => b.Id == batchId, cancellationToken);
        if (batch is null)
        {
            return null;
        }
        var grouped = await (
            from r in db.ImportRows
            where r.BatchId == batchId
            join a in db.Applications on r.ApplicationId equals a.Id into apps
            from a in apps.DefaultIfEmpty()
            group r by new { r.Result, State = (ApplicationState?)a.State } into g
            select new { g.Key.Result, g.Key.State, Count = g.Count() }).ToListAsync(cancellationToken);
        var counts = Enum.GetValues<ImportRowStatus>().ToDictionary(s => s, _ => 0);
        foreach (var g in grouped)
        {
            counts[StatusOf(g.Result, g.State)] += g.Count;
        }
        var sameFile = await db.ImportBatches.AsNoTracking()
            .Where(b => b.FileHash == batch.FileHash && b.Id != batch.Id && b.ConfirmedAt != null)
            .OrderBy(b => b.ConfirmedAt).FirstOrDefaultAsync(cancellationToken);
        return new ImportBatchView(batch, counts, sameFile);
    }

    /// <summary>One page of a batch's rows with where each stands now; <paramref name="problemsOnly"/> keeps the rows that need a look.</summary>
    public async Task<(IReadOnlyList<ImportRowView> Items, int Total)> RowsAsync(Guid batchId, bool problemsOnly, int offset, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query =
            from r in db.ImportRows.AsNoTracking()
            where r.BatchId == batchId
            join a in db.Applications.AsNoTracking() on r.ApplicationId equals a.Id into apps
            from a in apps.DefaultIfEmpty()
            select new { Row = r, State = (ApplicationState?)a.State, Error = a.LastProvisioningError };
        if (problemsOnly)
        {
            query = query.Where(x => x.Row.Result == ImportRowResult.Invalid || x.State == ApplicationState.ProvisioningFailed);
        }
        var total = await query.CountAsync(cancellationToken);
        var items = await query.OrderBy(x => x.Row.RowNumber).Skip(Math.Max(0, offset)).Take(Math.Clamp(limit, 1, 500)).ToListAsync(cancellationToken);
        return (items.Select(x => new ImportRowView(x.Row, StatusOf(x.Row.Result, x.State), x.State == ApplicationState.ProvisioningFailed ? x.Error : null)).ToList(), total);
    }

    public async Task<(IReadOnlyList<ImportBatch> Items, int Total)> BatchesAsync(int offset, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var total = await db.ImportBatches.CountAsync(cancellationToken);
        var items = await db.ImportBatches.AsNoTracking().OrderByDescending(b => b.UploadedAt).ThenBy(b => b.Id)
            .Skip(Math.Max(0, offset)).Take(Math.Clamp(limit, 1, 200)).ToListAsync(cancellationToken);
        return (items, total);
    }

    public static string BatchTarget(Guid id) => $"import:{id}";

    private static ImportRowStatus StatusOf(ImportRowResult result, ApplicationState? state) => result switch
    {
        ImportRowResult.Invalid => ImportRowStatus.Invalid,
        ImportRowResult.Ready => ImportRowStatus.Ready,
        ImportRowResult.AlreadyExists => ImportRowStatus.AlreadyExists,
        ImportRowResult.Created => state switch
        {
            ApplicationState.Provisioned => ImportRowStatus.Provisioned,
            ApplicationState.Approved or ApplicationState.Submitted => ImportRowStatus.Pending,
            ApplicationState.ProvisioningFailed or ApplicationState.Rejected or ApplicationState.Withdrawn or null => ImportRowStatus.Failed,
            _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(result), result, null),
    };

    private sealed record CheckedRow(int RowNumber, string? Name, string? Email, string? Id, string? Department, string? Username,
        bool UsernameProposed, IReadOnlyList<ImportProblem> Problems, ImportRowResult Result);

    /// <summary>A person the portal already has: an account, or an application that is open or provisioned.</summary>
    private sealed record KnownPerson(string Email, string Username, ApplicationState? State, bool IsAccount);

    private sealed record Standing(ImportProblem? Existing, ImportProblem? Problem);

    private async Task<List<CheckedRow>> CheckAsync(IReadOnlyList<ImportRecord> records, Guid batchId, CancellationToken cancellationToken)
    {
        var purpose = AccountApplication.ImportPurpose(batchId);
        var problems = records.ToDictionary(r => r.RowNumber, _ => new List<ImportProblem>());
        var forms = new Dictionary<int, (EmailAddress? Email, Username? Username, bool Given)>();
        foreach (var record in records)
        {
            if (record.Problem is not null)
            {
                problems[record.RowNumber].Add(new ImportProblem(ImportRow.Columns.Row, record.Problem));
                continue;
            }
            var givenUsername = string.IsNullOrWhiteSpace(record.Username) ? null : record.Username;
            var (_, errors) = ApplicationForm.Validate(record.Name, record.Email, record.Id, record.Department,
                givenUsername ?? UsernamePlaceholder, purpose, acceptedTerms: true, options.Value.AllowedEmailDomains);
            problems[record.RowNumber].AddRange(errors.Select(e => new ImportProblem(Column(e.Field), e.Code)));
            EmailAddress.TryParse(record.Email, out var email);
            if (errors.Any(e => e.Field == ApplicationForm.Fields.Email))
            {
                email = null;
            }
            Username.TryParse(givenUsername?.Trim(), out var username);
            forms[record.RowNumber] = (email, username, givenUsername is not null);
        }

        // Duplicates within the file: the first occurrence stands, each later one names it.
        foreach (var group in forms.Where(f => f.Value.Email is not null).GroupBy(f => f.Value.Email!.Value.ToLowerInvariant()))
        {
            var first = group.Min(g => g.Key);
            foreach (var later in group.Where(g => g.Key != first))
            {
                problems[later.Key].Add(new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.DuplicateInFile, first));
            }
        }
        foreach (var group in forms.Where(f => f.Value.Username is not null).GroupBy(f => f.Value.Username!.Value))
        {
            var first = group.Min(g => g.Key);
            foreach (var later in group.Where(g => g.Key != first))
            {
                problems[later.Key].Add(new ImportProblem(ImportRow.Columns.Username, ImportRow.Codes.DuplicateInFile, first));
            }
        }

        // The portal and the directory.
        List<KnownPerson> known;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            known = await KnownAsync(db, forms.Values.Where(f => f.Email is not null).Select(f => f.Email!.Value),
                forms.Values.Where(f => f.Username is not null).Select(f => f.Username!.Value), cancellationToken);
        }
        var existing = new Dictionary<int, (ImportProblem Reason, string Username)>();
        foreach (var (row, (email, username, given)) in forms)
        {
            if (email is not null && known.FirstOrDefault(k => k.Email == email.Value.ToLowerInvariant()) is { } person)
            {
                if (!given || username?.Value == person.Username)
                {
                    existing[row] = (new ImportProblem(ImportRow.Columns.Email,
                        person.IsAccount ? ImportRow.Codes.AccountExists : ImportRow.Codes.AlreadyImported), person.Username);
                    continue;
                }
                problems[row].Add(new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.EmailRegistered));
            }
            else if (email is not null && await directory.UidWithEmailAsync(email, cancellationToken) is { } uid)
            {
                // One person, one account: the directory knows this address, perhaps from before the portal.
                if (!given || username?.Value == uid)
                {
                    existing[row] = (new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.AccountExists), uid);
                    continue;
                }
                problems[row].Add(new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.EmailRegistered));
            }
            if (username is not null && !problems[row].Any(p => p.Field == ImportRow.Columns.Username)
                && (known.Any(k => k.Username == username.Value) || await directory.UsernameExistsAsync(username, cancellationToken)))
            {
                problems[row].Add(new ImportProblem(ImportRow.Columns.Username, ApplicationForm.Codes.UsernameTaken));
            }
        }

        // Proposals for rows without a username, from the email's local part, unique in the file, the portal and LDAP.
        var used = forms.Values.Where(f => f.Username is not null).Select(f => f.Username!.Value).ToHashSet(StringComparer.Ordinal);
        var proposed = new Dictionary<int, string>();
        foreach (var record in records.Where(r => r.Problem is null && string.IsNullOrWhiteSpace(r.Username) && !existing.ContainsKey(r.RowNumber)))
        {
            if (forms[record.RowNumber].Email is not { } email)
            {
                continue;
            }
            var candidate = await ProposeAsync(email, used, known, cancellationToken);
            if (candidate is null)
            {
                problems[record.RowNumber].Add(new ImportProblem(ImportRow.Columns.Username, ApplicationForm.Codes.Required));
                continue;
            }
            used.Add(candidate);
            proposed[record.RowNumber] = candidate;
        }

        return [.. records.Select(r =>
        {
            var list = problems[r.RowNumber];
            if (existing.TryGetValue(r.RowNumber, out var there) && list.Count == 0)
            {
                return new CheckedRow(r.RowNumber, r.Name?.Trim(), r.Email?.Trim(), r.Id?.Trim(), r.Department?.Trim(), there.Username,
                    string.IsNullOrWhiteSpace(r.Username), [there.Reason], ImportRowResult.AlreadyExists);
            }
            var isProposal = proposed.TryGetValue(r.RowNumber, out var proposal);
            return new CheckedRow(r.RowNumber, r.Name?.Trim(), r.Email?.Trim(), r.Id?.Trim(), r.Department?.Trim(),
                isProposal ? proposal : r.Username?.Trim(), isProposal, list, list.Count == 0 ? ImportRowResult.Ready : ImportRowResult.Invalid);
        })];
    }

    private async Task<string?> ProposeAsync(EmailAddress email, HashSet<string> used, List<KnownPerson> known, CancellationToken cancellationToken)
    {
        var local = email.Value[..email.Value.IndexOf('@', StringComparison.Ordinal)].ToLowerInvariant();
        var cleaned = new StringBuilder();
        foreach (var c in local)
        {
            if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-')
            {
                cleaned.Append(c);
            }
            else if (c is '.' or '+')
            {
                cleaned.Append('-');
            }
        }
        var stem = cleaned.ToString().TrimStart('-', '_', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9').TrimEnd('-', '_');
        if (stem.Length < 2)
        {
            stem = $"user{stem}";
        }
        stem = stem.Length > 26 ? stem[..26] : stem;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        for (var n = 1; n < 1000; n++)
        {
            var candidate = n == 1 ? stem : $"{stem}{n}";
            if (!Username.TryParse(candidate, out var username) || used.Contains(candidate) || known.Any(k => k.Username == candidate))
            {
                continue;
            }
            if (await db.Accounts.AnyAsync(a => a.Username == username, cancellationToken)
                || await db.Applications.AnyAsync(a => a.DesiredUsername == username && OpenStates.Contains(a.State), cancellationToken)
                || await directory.UsernameExistsAsync(username, cancellationToken))
            {
                continue;
            }
            return candidate;
        }
        return null;
    }

    /// <summary>Accounts and open or provisioned applications with any of these emails or usernames.</summary>
    private static async Task<List<KnownPerson>> KnownAsync(PortalDbContext db, IEnumerable<string> emails, IEnumerable<string> usernames, CancellationToken cancellationToken)
    {
        var emailList = emails.Select(e => e.ToLowerInvariant()).Distinct().ToArray();
        var usernameList = usernames.Distinct().ToArray();
        var applications = await db.Database.SqlQuery<KnownRow>($"""
            SELECT lower(email) AS "Email", desired_username AS "Username", state AS "State"
            FROM account_applications
            WHERE state IN ('Submitted', 'Approved', 'ProvisioningFailed', 'Provisioned')
              AND (lower(email) = ANY({emailList}) OR desired_username = ANY({usernameList}))
            """).ToListAsync(cancellationToken);
        var accounts = await db.Database.SqlQuery<KnownRow>($"""
            SELECT lower(coalesce(email, '')) AS "Email", username AS "Username", NULL AS "State"
            FROM accounts
            WHERE lower(email) = ANY({emailList}) OR username = ANY({usernameList})
            """).ToListAsync(cancellationToken);
        return [.. accounts.Select(a => new KnownPerson(a.Email, a.Username, null, IsAccount: true)),
            .. applications.Select(a => new KnownPerson(a.Email, a.Username, Enum.Parse<ApplicationState>(a.State!), IsAccount: false))];
    }

    private sealed class KnownRow
    {
        public string Email { get; init; } = "";
        public string Username { get; init; } = "";
        public string? State { get; init; }
    }

    /// <summary>At confirmation: already there (skip), taken by somebody else (refuse), or free.</summary>
    private async Task<Standing> StandingAsync(List<KnownPerson> known, EmailAddress email, Username username, CancellationToken cancellationToken)
    {
        if (known.FirstOrDefault(k => k.Email == email.Value.ToLowerInvariant()) is { } person)
        {
            return person.Username == username.Value
                ? new Standing(new ImportProblem(ImportRow.Columns.Email, person.IsAccount ? ImportRow.Codes.AccountExists : ImportRow.Codes.AlreadyImported), null)
                : new Standing(null, new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.EmailRegistered));
        }
        if (await directory.UidWithEmailAsync(email, cancellationToken) is { } uid)
        {
            return uid == username.Value
                ? new Standing(new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.AccountExists), null)
                : new Standing(null, new ImportProblem(ImportRow.Columns.Email, ImportRow.Codes.EmailRegistered));
        }
        if (known.Any(k => k.Username == username.Value) || await directory.UsernameExistsAsync(username, cancellationToken))
        {
            return new Standing(null, new ImportProblem(ImportRow.Columns.Username, ApplicationForm.Codes.UsernameTaken));
        }
        return new Standing(null, null);
    }

    private static string Column(string field) => field switch
    {
        ApplicationForm.Fields.FullName => ImportRow.Columns.Name,
        ApplicationForm.Fields.Email => ImportRow.Columns.Email,
        ApplicationForm.Fields.AffiliationId => ImportRow.Columns.Id,
        ApplicationForm.Fields.Department => ImportRow.Columns.Department,
        ApplicationForm.Fields.DesiredUsername => ImportRow.Columns.Username,
        _ => ImportRow.Columns.Row,
    };
}
