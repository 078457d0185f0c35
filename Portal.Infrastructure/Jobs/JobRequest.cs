using System.Globalization;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Jobs;

/// <summary>
/// What a job does. The numbers are stored in Hangfire's job rows as the runner's first argument, so a value is never
/// renumbered or reused; a new kind takes a new number.
/// </summary>
public enum JobKind
{
    /// <summary>Brings one user's server to what its user asked for (key: the server's id).</summary>
    Server = 1,
    /// <summary>Brings one account's directory state to what an admin decided (key: the username).</summary>
    UserAdministration = 2,
    /// <summary>Creates the account of one approved application (key: the application's id).</summary>
    Provisioning = 3,
    /// <summary>Sends the outbox's due mail; runs may overlap, the claims keep them apart (no key).</summary>
    MailDispatch = 4,
    /// <summary>Recurring: a job for every server that is not stopped (finds work whose enqueue was lost).</summary>
    ServerSweep = 5,
    /// <summary>Recurring: warns, then stops, idle servers.</summary>
    IdleCull = 6,
    /// <summary>Recurring: measures every home folder.</summary>
    StorageSampling = 7,
    /// <summary>Recurring: a job for every account whose directory state lags behind.</summary>
    UserAdministrationSweep = 8,
    /// <summary>Recurring: a job for every approved application whose next attempt is due.</summary>
    ProvisioningSweep = 9,
}

/// <summary>
/// One job to run: a kind and the id of what it works on (empty for jobs that work on everything). The one shape in
/// which every part of the portal asks for work (<see cref="IJobTrigger"/>); arguments are ids, never secrets.
/// </summary>
public readonly record struct JobRequest(JobKind Kind, string Key)
{
    public static JobRequest Server(Guid serverId) => new(JobKind.Server, serverId.ToString("D", CultureInfo.InvariantCulture));

    public static JobRequest UserAdministration(Username username) => new(JobKind.UserAdministration, username.Value);

    public static JobRequest Provisioning(Guid applicationId) =>
        new(JobKind.Provisioning, applicationId.ToString("D", CultureInfo.InvariantCulture));

    public static JobRequest MailDispatch { get; } = new(JobKind.MailDispatch, "");

    public static JobRequest Recurring(JobKind kind) => new(kind, "");

    public override string ToString() => Key.Length == 0 ? Kind.ToString() : $"{Kind} {Key}";
}
