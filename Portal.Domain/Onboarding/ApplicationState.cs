namespace Portal.Domain.Onboarding;

/// <summary>
/// Submitted → Approved → Provisioned; Submitted → Rejected; Submitted → Withdrawn;
/// Approved → ProvisioningFailed → Provisioned (the job retries until it converges).
/// </summary>
public enum ApplicationState
{
    Submitted,
    Approved,
    Provisioned,
    Rejected,
    Withdrawn,
    ProvisioningFailed,
}
