using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Admin.Users;
using Portal.Domain.Servers;

namespace Portal.Api;

/// <summary>One page of a list: the items, how many there are in all, and where this page starts.</summary>
public sealed record ApiPage<T>(IReadOnlyList<T> Items, int Total, int Offset, int Limit);

public sealed record ApplicationDto(
    Guid Id, string FullName, string Email, string AffiliationId, string Department, string DesiredUsername, string State,
    DateTimeOffset SubmittedAt, string? DecidedBy, DateTimeOffset? DecidedAt, string? RejectionReason,
    DateTimeOffset? ProvisionedAt, int ProvisioningAttempts, string? LastProvisioningError)
{
    public static ApplicationDto From(AccountApplication a) => new(
        a.Id, a.FullName, a.Email.Value, a.AffiliationId, a.Department, a.DesiredUsername.Value, a.State.ToString(),
        a.SubmittedAt, a.DecidedBy?.Value, a.DecidedAt, a.RejectionReason, a.ProvisionedAt, a.ProvisioningAttempts, a.LastProvisioningError);
}

public sealed record RejectRequest(string? Reason);

/// <summary>A server as the API shows it; the URL (which carries the server's token) only to its owner.</summary>
public sealed record ServerDto(
    string Username, string Backend, string Desired, string Observed, string? CudaToolkit, DateTimeOffset StateChangedAt,
    DateTimeOffset? ReadyAt, DateTimeOffset? LastActivityAt, int ProgressPercent, string? ProgressMessage, string? FailureReason,
    IReadOnlyList<int> GpuIndexes, string? Url)
{
    public static ServerDto From(UserServer s, IReadOnlyList<int> gpus, bool forOwner) => new(
        s.Username.Value, s.Backend, s.Desired.ToString(), s.Observed.ToString(), s.CudaToolkit, s.StateChangedAt, s.ReadyAt,
        s.LastActivityAt, s.ProgressPercent, s.ProgressMessage, s.FailureReason, gpus, forOwner ? s.Url : null);
}

public sealed record StartRequest(string? CudaToolkit);

/// <summary>What a start or stop request did: <c>Requested</c>, <c>AlreadyRequested</c>, or why nothing happened.</summary>
public sealed record ServerRequestDto(string Result);

public sealed record UserDto(string Username, string DisplayName, string? Email, string Role, string Status, string? Department,
    DateTimeOffset? LastSignInAt, string? ServerState)
{
    public static UserDto From(UserRow r) => new(r.Username, r.DisplayName, r.Email, r.Role.ToString(), r.Status.ToString(), r.Department,
        r.LastSignInAt, r.ServerState?.ToString());
}

public sealed record LimitsDto(decimal CpuCores, int MemoryGiB, int StorageGiB, int GpuCount, string? GpuModel);

public sealed record UserDetailDto(string Username, string DisplayName, string? Email, string Role, string Status, string? SuspensionReason,
    string? Department, int? UidNumber, int? AcceptedTermsVersion, DateTimeOffset CreatedAt, DateTimeOffset? LastSignInAt, string Plan,
    LimitsDto Limits, string? ServerState)
{
    public static UserDetailDto From(UserDetail d)
    {
        var a = d.Account;
        var l = d.EffectiveLimits;
        // The reason is the current suspension's: none once reinstated (rows reinstated before the domain cleared it keep one).
        var suspensionReason = a.Status == AccountStatus.Suspended ? a.SuspensionReason : null;
        return new(a.Username.Value, a.DisplayName, a.Email?.Value, a.Role.ToString(), a.Status.ToString(), suspensionReason, a.Department,
            a.UidNumber, a.AcceptedTermsVersion, a.CreatedAt, a.LastSignInAt, d.Plan.Name,
            new LimitsDto(l.CpuCores, l.MemoryGiB, l.StorageGiB, l.GpuCount, l.GpuModel), d.Server?.Observed.ToString());
    }
}

public sealed record SuspendRequest(string? Reason);

public sealed record UserActionDto(string Outcome, string? Message);
