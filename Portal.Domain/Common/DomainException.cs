namespace Portal.Domain.Common;

/// <summary>A rule of the domain was broken; the message is safe to show to the person who asked.</summary>
public class DomainException(string message) : Exception(message);

/// <summary>A value did not meet its format; <see cref="Field"/> names what was wrong.</summary>
public sealed class InvalidValueException(string field, string message) : DomainException(message)
{
    public string Field { get; } = field;

    /// <summary>
    /// True when the value was refused for holding control characters (<see cref="ControlCharacters.ThrowIfContains"/>):
    /// a page says so in the reader's language instead of repeating the field's other rules.
    /// </summary>
    public bool HasControlCharacters { get; init; }
}

/// <summary>A state machine was asked for a move it does not allow.</summary>
public sealed class InvalidTransitionException(string subject, string from, string to)
    : DomainException($"{subject} cannot go from {from} to {to}.")
{
    public string Subject { get; } = subject;
    public string From { get; } = from;
    public string To { get; } = to;
}
