using Portal.Domain.Accounts;

namespace Portal.Benchmarks;

/// <summary>One search of the users page: the filters an admin sets (null: not set) and the page asked for.</summary>
public sealed record UserSearchCase(
    string? Text = null,
    Role? Role = null,
    AccountStatus? Status = null,
    string? Department = null,
    bool? HasRunningServer = null,
    int Offset = 0,
    int Limit = 50);

/// <summary>One dashboard query; <see cref="RunAsync"/> answers how many rows it returned.</summary>
public sealed record DashboardQuery(string Name, Func<CancellationToken, Task<int>> RunAsync);
