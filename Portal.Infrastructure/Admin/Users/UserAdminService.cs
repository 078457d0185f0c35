using System.Text;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Audit;
using Portal.Domain.Common;
using Portal.Domain.Onboarding;
using Portal.Domain.Servers;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>Everything the user page shows about one account.</summary>
public sealed record UserDetail(
    Account Account,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? DirectoryAttributes,
    string? DirectoryError,
    ResourcePlan Plan,
    QuotaOverride? QuotaOverride,
    ResourceLimits EffectiveLimits,
    IReadOnlyList<ResourcePlan> Plans,
    UserServer? Server,
    IReadOnlyList<ServerSession> RecentSessions,
    IReadOnlyList<AccountApplication> Applications,
    IReadOnlyList<AuditEvent> AuditTrail,
    CredentialLink? PendingPasswordReset)
{
    /// <summary>The job has yet to make LDAP's lock match the status.</summary>
    public bool LockPending => (Account.Status == AccountStatus.Suspended) != Account.DirectoryLocked;
}

public enum UserActionOutcome
{
    /// <summary>Recorded; the user's administration job carries it out in LDAP (and the backend).</summary>
    Requested,

    NotFound,

    /// <summary>Already so (e.g. suspending a suspended account): nothing changed.</summary>
    NothingToDo,

    /// <summary>The input was refused (a missing reason, no email address to send a reset link to).</summary>
    Invalid,

    /// <summary>The change would leave the portal without an active administrator.</summary>
    LastAdmin,
}

public sealed record UserActionResult(UserActionOutcome Outcome, string? Message = null)
{
    public static UserActionResult Requested { get; } = new(UserActionOutcome.Requested);
    public static UserActionResult NotFound { get; } = new(UserActionOutcome.NotFound);
    public static UserActionResult NothingToDo { get; } = new(UserActionOutcome.NothingToDo);
}

/// <summary>The values an admin edits on the quota form; null means "the plan's value".</summary>
public sealed record QuotaEdit(string? PlanName, decimal? CpuCores, int? MemoryGiB, int? StorageGiB, int? GpuCount, string? GpuModel);

/// <summary>Why a quota edit was refused.</summary>
public enum QuotaRefusal
{
    UnknownPlan,
    CpuNotPositive,
    MemoryNotPositive,
    StorageNotPositive,
    GpuCountNegative,

    /// <summary>More GPUs (of the model) than the inventory has: the person would never get a server.</summary>
    GpuCountTooLarge,

    /// <summary>No GPU of this model in the inventory, and the limit asks for some.</summary>
    UnknownGpuModel,

    /// <summary>Refused by a domain rule not named above.</summary>
    Other,
}

public abstract record QuotaSaveResult
{
    private QuotaSaveResult()
    {
    }

    public sealed record Saved(int Version, ResourceLimits Effective) : QuotaSaveResult;

    /// <summary>Someone saved since the form was loaded: nothing was written; these are the values in force now.</summary>
    public sealed record Conflict(QuotaOverride? Current, int? CurrentVersion, ResourceLimits Effective) : QuotaSaveResult;

    /// <summary>Refused; nothing was saved. <paramref name="Message"/> in English for logs, <paramref name="Reason"/> for the page,
    /// with the largest allowed GPU count or the plan or model it is about.</summary>
    public sealed record Invalid(QuotaRefusal Reason, string Message, int? Largest = null, string? Detail = null) : QuotaSaveResult;

    public sealed record NotFound : QuotaSaveResult;
}

/// <summary>
/// The admin console's user administration: search in the database, one user's whole picture, and the actions.
/// An action writes the wish to the database and asks the user's administration job to carry it out
/// (<see cref="UserDirectorySync"/>); every action is audited with the username as target.
/// </summary>
public sealed class UserAdminService(
    IDbContextFactory<PortalDbContext> contexts,
    NpgsqlDataSource dataSource,
    IDirectoryAdministration directory,
    QuotaService quotas,
    ServerService servers,
    IJobTrigger jobs,
    CredentialIssuer credentials,
    TimeProvider clock)
{
    public const int AuditTrailLimit = 100;

    public async Task<UserPage> SearchAsync(UserSearch query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var where = new StringBuilder("TRUE");
        var parameters = new List<NpgsqlParameter>();
        if (!string.IsNullOrWhiteSpace(query.Text))
        {
            // lower(x) LIKE '%…%' is what the trigram GIN indexes of migrations/0007 serve; the text is escaped.
            parameters.Add(new NpgsqlParameter("pattern", $"%{Like.Escape(query.Text.Trim().ToLowerInvariant())}%"));
            where.Append(" AND (lower(a.username) LIKE @pattern OR lower(a.display_name) LIKE @pattern OR lower(a.email) LIKE @pattern)");
        }
        if (query.Role is { } role)
        {
            parameters.Add(new NpgsqlParameter("role", role.ToString()));
            where.Append(" AND a.role = @role");
        }
        if (query.Status is { } status)
        {
            parameters.Add(new NpgsqlParameter("status", status.ToString()));
            where.Append(" AND a.status = @status");
        }
        if (!string.IsNullOrWhiteSpace(query.Department))
        {
            parameters.Add(new NpgsqlParameter("department", query.Department.Trim()));
            where.Append(" AND a.department = @department");
        }
        if (query.HasRunningServer is { } running)
        {
            where.Append(running ? " AND " : " AND NOT ");
            where.Append("EXISTS (SELECT 1 FROM user_servers r WHERE r.username = a.username AND r.observed_state = 'Running')");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        int total;
        await using (var count = new NpgsqlCommand($"SELECT count(*) FROM accounts a WHERE {where}", connection))
        {
            foreach (var p in parameters)
            {
                count.Parameters.Add(p.Clone());
            }
            total = (int)(long)(await count.ExecuteScalarAsync(ct))!;
        }

        var items = new List<UserRow>();
        await using (var select = new NpgsqlCommand($"""
            SELECT a.username, a.display_name, a.email, a.role, a.status, a.department, a.last_sign_in_at, s.observed_state
            FROM accounts a LEFT JOIN user_servers s ON s.username = a.username
            WHERE {where}
            ORDER BY a.username
            OFFSET @offset LIMIT @limit
            """, connection))
        {
            foreach (var p in parameters)
            {
                select.Parameters.Add(p);
            }
            select.Parameters.Add(new NpgsqlParameter("offset", Math.Max(0, query.Offset)));
            select.Parameters.Add(new NpgsqlParameter("limit", Math.Clamp(query.Limit, 1, UserSearch.MaxLimit)));
            await using var reader = await select.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                items.Add(new UserRow(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2),
                    Enum.Parse<Role>(reader.GetString(3)),
                    Enum.Parse<AccountStatus>(reader.GetString(4)),
                    reader.IsDBNull(5) ? null : reader.GetString(5),
                    reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                    reader.IsDBNull(7) ? null : Enum.Parse<ServerState>(reader.GetString(7))));
            }
        }
        return new UserPage(items, total);
    }

    /// <summary>The departments accounts name, for the filter's choices.</summary>
    public async Task<IReadOnlyList<string>> DepartmentsAsync(CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        return await db.Accounts.Where(a => a.Department != null).Select(a => a.Department!).Distinct().OrderBy(d => d).Take(500).ToListAsync(ct);
    }

    public async Task<UserDetail?> DetailAsync(Username username, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var account = await db.Accounts.AsNoTracking().SingleOrDefaultAsync(a => a.Username == username, ct);
        if (account is null)
        {
            return null;
        }

        IReadOnlyDictionary<string, IReadOnlyList<string>>? attributes = null;
        string? directoryError = null;
        try
        {
            attributes = await directory.ReadAttributesAsync(username, ct);
            if (attributes is null)
            {
                directoryError = "The directory has no entry for this username.";
            }
        }
        catch (DirectoryUnavailableException e)
        {
            directoryError = e.Message;
        }

        var (plan, limits) = await quotas.ForAsync(username, ct);
        var quotaOverride = await db.QuotaOverrides.AsNoTracking().SingleOrDefaultAsync(q => q.Username == username, ct);
        var plans = await db.ResourcePlans.AsNoTracking().OrderByDescending(p => p.IsDefault).ThenBy(p => p.Name).ToListAsync(ct);
        var server = await db.Servers.AsNoTracking().SingleOrDefaultAsync(s => s.Username == username, ct);
        var sessions = await db.ServerSessions.AsNoTracking().Where(s => s.Username == username)
            .OrderByDescending(s => s.RequestedAt).Take(20).ToListAsync(ct);
        var email = account.Email;
        var applications = await db.Applications.AsNoTracking()
            .Where(a => a.Id == account.ApplicationId || (email != null && a.Email == email) || a.DesiredUsername == username)
            .OrderByDescending(a => a.SubmittedAt).Take(20).ToListAsync(ct);
        var targets = AuditTargets(username, account.ApplicationId);
        var audit = await db.AuditEvents.AsNoTracking().Where(e => e.Target != null && targets.Contains(e.Target))
            .OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id).Take(AuditTrailLimit).ToListAsync(ct);
        var now = clock.GetUtcNow();
        var pendingReset = await db.CredentialLinks.AsNoTracking()
            .Where(l => l.Username == username && l.ApplicationId == null && l.RevealedAt == null && l.ExpiresAt > now)
            .OrderByDescending(l => l.CreatedAt).FirstOrDefaultAsync(ct);
        return new UserDetail(account, attributes, directoryError, plan, quotaOverride, limits, plans, server, sessions,
            applications, audit, pendingReset);
    }

    /// <summary>The audit targets of a user's history: the account itself, their server and their application.</summary>
    public static List<string> AuditTargets(Username username, Guid? applicationId)
    {
        List<string> targets = [username.Value, $"server:{username.Value}"];
        if (applicationId is { } id)
        {
            targets.Add(ProvisioningService.ApplicationTarget(id));
        }
        return targets;
    }

    public async Task<UserActionResult> SuspendAsync(Username username, string? reason, AuditActor actor, CancellationToken ct)
    {
        var trimmed = reason?.Trim();
        if (string.IsNullOrEmpty(trimmed) || trimmed.Length > Account.SuspensionReasonMax)
        {
            return new UserActionResult(UserActionOutcome.Invalid, $"A reason of 1 to {Account.SuspensionReasonMax} characters is required.");
        }
        if (ControlCharacters.Contains(trimmed, ControlCharacters.Lines.Multiple))
        {
            return new UserActionResult(UserActionOutcome.Invalid, ControlCharacters.Message("reason"));
        }
        return await ChangeAsync(username, actor, "admin.user.suspend", (account, db, now) =>
        {
            if (account.Status == AccountStatus.Suspended)
            {
                return Task.FromResult<UserActionResult?>(UserActionResult.NothingToDo);
            }
            account.Suspend(trimmed, actor.Name, now);
            return Task.FromResult<UserActionResult?>(null);
        }, new { reason = trimmed }, ct);
    }

    public Task<UserActionResult> ReinstateAsync(Username username, AuditActor actor, CancellationToken ct) =>
        ChangeAsync(username, actor, "admin.user.reinstate", (account, db, now) =>
        {
            if (account.Status == AccountStatus.Active)
            {
                return Task.FromResult<UserActionResult?>(UserActionResult.NothingToDo);
            }
            account.Reinstate(now);
            return Task.FromResult<UserActionResult?>(null);
        }, new { }, ct);

    public Task<UserActionResult> ChangeRoleAsync(Username username, Role role, AuditActor actor, CancellationToken ct) =>
        ChangeAsync(username, actor, "admin.user.role", async (account, db, now) =>
        {
            var current = account.RequestedRole ?? account.Role;
            if (current == role)
            {
                return UserActionResult.NothingToDo;
            }
            if (current == Role.Admin)
            {
                // One role change at a time in the whole portal, so two admins demoting each other cannot both pass.
                await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_xact_lock(70070001)", ct);
                // Another active admin must remain (counting pending promotions and demotions).
                var otherAdmins = await db.Accounts.CountAsync(a => a.Username != username && a.Status == AccountStatus.Active
                    && ((a.RequestedRole == null && a.Role == Role.Admin) || a.RequestedRole == Role.Admin), ct);
                if (otherAdmins == 0)
                {
                    return new UserActionResult(UserActionOutcome.LastAdmin, "The last active administrator cannot be demoted.");
                }
            }
            account.RequestRole(role, now);
            return null;
        }, new { }, ct, dataFor: account => new { from = (account.RequestedRole ?? account.Role).ToString(), to = role.ToString() });

    /// <summary>
    /// Issues a new one-time credential link with a fresh password and mails it; the job writes the password to LDAP
    /// with <c>pwdReset: TRUE</c>, so the person must choose their own at the next sign-in. An unused earlier reset link
    /// stops working.
    /// </summary>
    public async Task<UserActionResult> ResetPasswordAsync(Username username, AuditActor actor, CancellationToken ct)
    {
        var result = await ChangeAsync(username, actor, "admin.user.reset-password", async (account, db, now) =>
        {
            if (account.Email is not { } email)
            {
                return new UserActionResult(UserActionOutcome.Invalid, "The account has no email address to send the link to.");
            }
            var earlier = await db.CredentialLinks
                .Where(l => l.Username == username && l.ApplicationId == null && l.RevealedAt == null && l.ExpiresAt > now).ToListAsync(ct);
            foreach (var link in earlier)
            {
                link.Supersede(now);
            }
            credentials.IssueReset(db, account, email, now);
            account.RequestDirectoryChange(now);
            return null;
        }, new { }, ct);
        if (result.Outcome == UserActionOutcome.Requested)
        {
            await jobs.RunSoonAsync(JobRequest.MailDispatch, ct);
        }
        return result;
    }

    /// <summary>Asks the user's server to stop, as the admin.</summary>
    public async Task<UserActionResult> StopServerAsync(Username username, AuditActor actor, CancellationToken ct)
    {
        var result = await servers.StopAsync(username, actor.Name, actor.SourceAddress, ct);
        return result switch
        {
            ServerRequestResult.Requested => UserActionResult.Requested,
            ServerRequestResult.AlreadyRequested => UserActionResult.NothingToDo,
            ServerRequestResult.NoGpuAvailable or ServerRequestResult.Busy or ServerRequestResult.ToolkitRefused or ServerRequestResult.Maintenance
                => new UserActionResult(UserActionOutcome.Invalid, result.ToString()),
            _ => new UserActionResult(UserActionOutcome.Invalid, result.ToString()),
        };
    }

    /// <summary>
    /// Saves the quota override made from <paramref name="fromVersion"/> (null: the form was loaded when there was none).
    /// If another admin saved since, nothing is written and the current values come back.
    /// </summary>
    public async Task<QuotaSaveResult> SaveQuotaAsync(Username username, QuotaEdit edit, int? fromVersion, AuditActor actor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(edit);
        await using var db = await contexts.CreateDbContextAsync(ct);
        if (!await db.Accounts.AnyAsync(a => a.Username == username, ct))
        {
            return new QuotaSaveResult.NotFound();
        }
        var planName = string.IsNullOrWhiteSpace(edit.PlanName) ? null : edit.PlanName.Trim();
        var plan = await db.ResourcePlans.AsNoTracking().SingleOrDefaultAsync(p => planName != null ? p.Name == planName : p.IsDefault, ct);
        if (plan is null)
        {
            return new QuotaSaveResult.Invalid(QuotaRefusal.UnknownPlan, $"There is no plan named {planName}.", Detail: planName);
        }
        var gpuModel = string.IsNullOrWhiteSpace(edit.GpuModel) ? null : edit.GpuModel.Trim();
        if (Refusal(edit, gpuModel, plan) is { } refusal)
        {
            return refusal;
        }
        var row = await db.QuotaOverrides.SingleOrDefaultAsync(q => q.Username == username, ct);
        if (row?.Version != fromVersion)
        {
            return await ConflictAsync(username, ct);
        }
        try
        {
            if (row is null)
            {
                row = QuotaOverride.For(username, planName, edit.CpuCores, edit.MemoryGiB, edit.StorageGiB, edit.GpuCount, gpuModel);
                db.QuotaOverrides.Add(row);
            }
            else
            {
                row.Change(planName, edit.CpuCores, edit.MemoryGiB, edit.StorageGiB, edit.GpuCount, gpuModel);
            }
        }
        catch (DomainException e)
        {
            return new QuotaSaveResult.Invalid(QuotaRefusal.Other, e.Message, Detail: e.Message);
        }
        AuditLog.Stage(db, actor, "admin.user.quota", username.Value,
            new { fromVersion, version = row.Version, plan = planName, edit.CpuCores, edit.MemoryGiB, edit.StorageGiB, edit.GpuCount, gpuModel }, clock.GetUtcNow());
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            return await ConflictAsync(username, ct);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            // Two first overrides at once: the other one was inserted first.
            return await ConflictAsync(username, ct);
        }
        var (_, limits) = await quotas.ForAsync(username, ct);
        return new QuotaSaveResult.Saved(row.Version, limits);
    }

    /// <summary>
    /// Each value the admin typed is checked as typed (no silent clamping: -5 GiB is refused, not saved as something
    /// else), and the GPU limit against what the inventory can ever give one server.
    /// </summary>
    private QuotaSaveResult.Invalid? Refusal(QuotaEdit edit, string? gpuModel, ResourcePlan plan)
    {
        if (edit.CpuCores <= 0)
        {
            return new QuotaSaveResult.Invalid(QuotaRefusal.CpuNotPositive, $"CPU cores must be more than 0 (not {edit.CpuCores}).");
        }
        if (edit.MemoryGiB <= 0)
        {
            return new QuotaSaveResult.Invalid(QuotaRefusal.MemoryNotPositive, $"Memory must be at least 1 GiB (not {edit.MemoryGiB}).");
        }
        if (edit.StorageGiB <= 0)
        {
            return new QuotaSaveResult.Invalid(QuotaRefusal.StorageNotPositive, $"Storage must be at least 1 GiB (not {edit.StorageGiB}).");
        }
        if (edit.GpuCount < 0)
        {
            return new QuotaSaveResult.Invalid(QuotaRefusal.GpuCountNegative, $"The GPU count cannot be negative (not {edit.GpuCount}).");
        }
        if (edit.GpuCount is null && gpuModel is null)
        {
            // The GPU limit stays the plan's; plans are defined for the whole service, not here.
            return null;
        }
        var count = edit.GpuCount ?? plan.GpuCount;
        var model = gpuModel ?? plan.GpuModel;
        var largest = quotas.LargestGpuCount(model);
        if (count <= largest)
        {
            return null;
        }
        return largest == 0 && model is not null
            ? new QuotaSaveResult.Invalid(QuotaRefusal.UnknownGpuModel, $"No node has a GPU of model {model}.", 0, model)
            : new QuotaSaveResult.Invalid(QuotaRefusal.GpuCountTooLarge,
                $"At most {largest} GPU(s){(model is null ? "" : $" of model {model}")} can be given to one server; {count} would never start.", largest, model);
    }

    private async Task<QuotaSaveResult> ConflictAsync(Username username, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var current = await db.QuotaOverrides.AsNoTracking().SingleOrDefaultAsync(q => q.Username == username, ct);
        var (_, limits) = await quotas.ForAsync(username, ct);
        return new QuotaSaveResult.Conflict(current, current?.Version, limits);
    }

    private async Task<UserActionResult> ChangeAsync(Username username, AuditActor actor, string action,
        Func<Account, PortalDbContext, DateTimeOffset, Task<UserActionResult?>> change, object data, CancellationToken ct,
        Func<Account, object>? dataFor = null)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        var account = await db.Accounts.SingleOrDefaultAsync(a => a.Username == username, ct);
        if (account is null)
        {
            return UserActionResult.NotFound;
        }
        var auditData = dataFor?.Invoke(account) ?? data;
        var now = clock.GetUtcNow();
        if (await change(account, db, now) is { } refused)
        {
            return refused;
        }
        AuditLog.Stage(db, actor, action, username.Value, auditData, now);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        await jobs.RunSoonAsync(JobRequest.UserAdministration(username), ct);
        return UserActionResult.Requested;
    }
}
