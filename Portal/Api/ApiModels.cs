using Portal.Domain.Onboarding;
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
