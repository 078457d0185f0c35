using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Onboarding;

/// <summary>
/// A request for an account. State changes are verbs that throw <see cref="InvalidTransitionException"/> on an
/// illegal move; who decided and when is kept. <see cref="Version"/> makes concurrent decisions detectable.
/// </summary>
public sealed class AccountApplication
{
    public const int RejectionReasonMax = 1000;
    public const int ErrorMax = 1000;

    // EF Core materializes through this one; every property is then set from the row.
    private AccountApplication()
    {
        FullName = AffiliationId = Department = Purpose = StatusTokenHash = "";
        Email = null!;
        DesiredUsername = null!;
    }

    private AccountApplication(Guid id, ApplicationForm form, int termsVersion, DateTimeOffset submittedAt, string? sourceAddress, string statusTokenHash,
        bool checkedAgainstDirectory = true)
    {
        CheckTexts(form);
        CheckedAgainstDirectory = checkedAgainstDirectory;
        Id = id;
        FullName = form.FullName;
        Email = form.Email;
        AffiliationId = form.AffiliationId;
        Department = form.Department;
        DesiredUsername = form.DesiredUsername;
        Purpose = form.Purpose;
        AcceptedTermsVersion = termsVersion;
        SubmittedAt = submittedAt;
        SourceAddress = sourceAddress;
        StatusTokenHash = statusTokenHash;
        State = ApplicationState.Submitted;
    }

    public Guid Id { get; private set; }
    public string FullName { get; private set; }
    public EmailAddress Email { get; private set; }
    public string AffiliationId { get; private set; }
    public string Department { get; private set; }
    public Username DesiredUsername { get; private set; }
    public string Purpose { get; private set; }
    public int AcceptedTermsVersion { get; private set; }
    public ApplicationState State { get; private set; }
    public DateTimeOffset SubmittedAt { get; private set; }
    public string? SourceAddress { get; private set; }

    /// <summary>
    /// False when the directory could not be asked at submission (LDAP was down): the username and email were checked
    /// against the portal's own records only, and are checked against the directory again before approval.
    /// </summary>
    public bool CheckedAgainstDirectory { get; private set; } = true;

    /// <summary>SHA-256 of the secret in the applicant's status link; the secret itself is only in their email.</summary>
    public string StatusTokenHash { get; private set; }

    public Username? DecidedBy { get; private set; }
    public DateTimeOffset? DecidedAt { get; private set; }
    public string? RejectionReason { get; private set; }
    public DateTimeOffset? WithdrawnAt { get; private set; }
    public int? UidNumber { get; private set; }
    public DateTimeOffset? ProvisionedAt { get; private set; }
    public int ProvisioningAttempts { get; private set; }
    public string? LastProvisioningError { get; private set; }
    public DateTimeOffset? NextProvisioningAttemptAt { get; private set; }
    public int Version { get; private set; }

    /// <summary>Still waiting for something: blocks a second application with the same email or username.</summary>
    public bool IsOpen => State is ApplicationState.Submitted or ApplicationState.Approved or ApplicationState.ProvisioningFailed;

    /// <summary>Approved and not yet provisioned: the provisioning job has work to do.</summary>
    public bool AwaitsProvisioning => State is ApplicationState.Approved or ApplicationState.ProvisioningFailed;

    /// <summary>A new application; <paramref name="checkedAgainstDirectory"/> is false when the directory could not be asked
    /// about its username and email (<see cref="CheckedAgainstDirectory"/>).</summary>
    public static AccountApplication Submit(ApplicationForm form, int termsVersion, DateTimeOffset at, string? sourceAddress, string statusTokenHash,
        bool checkedAgainstDirectory = true)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentException.ThrowIfNullOrWhiteSpace(statusTokenHash);
        if (termsVersion < 1)
        {
            throw new DomainException("The applicant must accept a published version of the terms.");
        }
        return new AccountApplication(Guid.NewGuid(), form, termsVersion, at, sourceAddress, statusTokenHash, checkedAgainstDirectory);
    }

    /// <summary>What <see cref="AcceptedTermsVersion"/> holds for an imported application: nobody accepted anything yet;
    /// the terms gate asks the person at their first sign-in.</summary>
    public const int TermsNotYetAccepted = 0;

    /// <summary>The purpose text of an application created by a bulk import.</summary>
    public static string ImportPurpose(Guid batchId) => $"Imported by an administrator in import batch {batchId}.";

    /// <summary>
    /// An application created by an administrator's bulk import: submitted and approved in one step by the importer,
    /// who is kept as the reviewer, so provisioning picks it up at once.
    /// </summary>
    public static AccountApplication Import(ApplicationForm form, Guid batchId, Username importer, DateTimeOffset at, string statusTokenHash)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(importer);
        ArgumentException.ThrowIfNullOrWhiteSpace(statusTokenHash);
        var application = new AccountApplication(Guid.NewGuid(), form with { Purpose = ImportPurpose(batchId) }, TermsNotYetAccepted, at, null, statusTokenHash);
        application.Approve(importer, at);
        return application;
    }

    public void Approve(Username reviewer, DateTimeOffset at)
    {
        Move(ApplicationState.Submitted, ApplicationState.Approved);
        DecidedBy = reviewer;
        DecidedAt = at;
        NextProvisioningAttemptAt = at;
    }

    public void Reject(Username reviewer, string reason, DateTimeOffset at)
    {
        var text = reason?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            throw new InvalidValueException(nameof(RejectionReason), "A reason is required to reject an application.");
        }
        if (text.Length > RejectionReasonMax)
        {
            throw new InvalidValueException(nameof(RejectionReason), $"The reason is longer than {RejectionReasonMax} characters.");
        }
        ControlCharacters.ThrowIfContains(text, ControlCharacters.Lines.Multiple, nameof(RejectionReason), "reason");
        Move(ApplicationState.Submitted, ApplicationState.Rejected);
        DecidedBy = reviewer;
        DecidedAt = at;
        RejectionReason = text;
    }

    public void Withdraw(DateTimeOffset at)
    {
        Move(ApplicationState.Submitted, ApplicationState.Withdrawn);
        WithdrawnAt = at;
    }

    /// <summary>Keeps the uidNumber drawn from the sequence, so a rerun reuses it instead of drawing another.</summary>
    public void AssignUidNumber(int uidNumber)
    {
        RequireAwaitingProvisioning(nameof(AssignUidNumber));
        if (UidNumber is { } existing && existing != uidNumber)
        {
            throw new DomainException($"Application {Id} already has uidNumber {existing}.");
        }
        UidNumber = uidNumber;
    }

    /// <summary>A provisioning attempt failed; the job tries again at <paramref name="nextAttemptAt"/>.</summary>
    public void RecordProvisioningFailure(string error, DateTimeOffset nextAttemptAt)
    {
        RequireAwaitingProvisioning(nameof(ApplicationState.ProvisioningFailed));
        State = ApplicationState.ProvisioningFailed;
        ProvisioningAttempts++;
        LastProvisioningError = error.Length <= ErrorMax ? error : error[..ErrorMax];
        NextProvisioningAttemptAt = nextAttemptAt;
        Version++;
    }

    /// <summary>An administrator asks for another attempt now instead of waiting for the backoff.</summary>
    public void RetryProvisioningNow(DateTimeOffset at)
    {
        if (State != ApplicationState.ProvisioningFailed)
        {
            throw new InvalidTransitionException(nameof(AccountApplication), State.ToString(), "retry");
        }
        NextProvisioningAttemptAt = at;
        Version++;
    }

    public void MarkProvisioned(DateTimeOffset at)
    {
        RequireAwaitingProvisioning(nameof(ApplicationState.Provisioned));
        if (UidNumber is null)
        {
            throw new DomainException($"Application {Id} cannot be provisioned without a uidNumber.");
        }
        State = ApplicationState.Provisioned;
        ProvisionedAt = at;
        NextProvisioningAttemptAt = null;
        Version++;
    }

    /// <summary>
    /// The form's texts go to the database as they are: a form not made by <see cref="ApplicationForm.Validate"/> must not
    /// bring control characters either (PostgreSQL refuses NUL). The email and username are value objects, checked already.
    /// </summary>
    private static void CheckTexts(ApplicationForm form)
    {
        ControlCharacters.ThrowIfContains(form.FullName, ControlCharacters.Lines.Single, nameof(FullName), "full name");
        ControlCharacters.ThrowIfContains(form.AffiliationId, ControlCharacters.Lines.Single, nameof(AffiliationId), "affiliation ID");
        ControlCharacters.ThrowIfContains(form.Department, ControlCharacters.Lines.Single, nameof(Department), "department");
        ControlCharacters.ThrowIfContains(form.Purpose, ControlCharacters.Lines.Multiple, nameof(Purpose), "purpose");
    }

    private void RequireAwaitingProvisioning(string to)
    {
        if (!AwaitsProvisioning)
        {
            throw new InvalidTransitionException(nameof(AccountApplication), State.ToString(), to);
        }
    }

    private void Move(ApplicationState from, ApplicationState to)
    {
        if (State != from)
        {
            throw new InvalidTransitionException(nameof(AccountApplication), State.ToString(), to.ToString());
        }
        State = to;
        Version++;
    }
}
