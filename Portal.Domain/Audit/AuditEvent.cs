namespace Portal.Domain.Audit;

/// <summary>One thing someone did, kept forever. There is no way to change an event once written.</summary>
public sealed class AuditEvent
{
    public const int MaxActorLength = 64;
    public const int MaxActionLength = 64;
    public const int MaxTargetLength = 256;

    private AuditEvent(DateTimeOffset occurredAt, string actor, string action, string? target, string data, string? sourceAddress)
    {
        OccurredAt = occurredAt;
        Actor = actor;
        Action = action;
        Target = target;
        Data = data;
        SourceAddress = sourceAddress;
    }

    public long Id { get; private set; }
    public DateTimeOffset OccurredAt { get; private set; }

    /// <summary>Username of who did it, or <see cref="Anonymous"/> / <see cref="System"/>.</summary>
    public string Actor { get; private set; }

    /// <summary>Dotted verb, e.g. <c>auth.sign-in</c>.</summary>
    public string Action { get; private set; }

    public string? Target { get; private set; }

    /// <summary>JSON object with details; never a password or token.</summary>
    public string Data { get; private set; }

    public string? SourceAddress { get; private set; }

    public const string Anonymous = "(anonymous)";
    public const string System = "(system)";

    public static AuditEvent Record(DateTimeOffset at, string actor, string action, string? target, string dataJson, string? sourceAddress)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        ArgumentException.ThrowIfNullOrWhiteSpace(dataJson);
        return new AuditEvent(at, Truncate(actor, MaxActorLength), Truncate(action, MaxActionLength),
            target is null ? null : Truncate(target, MaxTargetLength), dataJson, sourceAddress);
    }

    private static string Truncate(string value, int max) => value.Length <= max ? value : value[..max];
}
