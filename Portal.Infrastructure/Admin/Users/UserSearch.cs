using Portal.Domain.Accounts;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Admin.Users;

/// <summary>
/// Filters of the user list. <see cref="Text"/> is a case-insensitive substring of username, display name or email,
/// matched literally (<c>%</c> and <c>_</c> are not wildcards). Results are ordered by username.
/// </summary>
public sealed record UserSearch(
    string? Text = null,
    Role? Role = null,
    AccountStatus? Status = null,
    string? Department = null,
    bool? HasRunningServer = null,
    int Offset = 0,
    int Limit = 50)
{
    public const int MaxLimit = 200;
}

public sealed record UserRow(
    string Username,
    string DisplayName,
    string? Email,
    Role Role,
    AccountStatus Status,
    string? Department,
    DateTimeOffset? LastSignInAt,
    ServerState? ServerState);

public sealed record UserPage(IReadOnlyList<UserRow> Items, int Total);
