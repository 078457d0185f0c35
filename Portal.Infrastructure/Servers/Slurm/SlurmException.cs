namespace Portal.Infrastructure.Servers.Slurm;

/// <summary>
/// Slurm could not be asked (the controller does not answer, a tool is missing or timed out, an answer that makes no
/// sense): a failure of this attempt, not a decision about the server. The server jobs retry.
/// </summary>
public sealed class SlurmException(string message, Exception? inner = null) : Exception(message, inner);
