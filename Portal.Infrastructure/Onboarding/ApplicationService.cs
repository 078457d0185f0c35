using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Audit;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Terms;
using Portal.Infrastructure.Jobs;

namespace Portal.Infrastructure.Onboarding;

public enum UsernameAvailability
{
    Available,
    Invalid,
    Taken,

    /// <summary>Free in the portal's records, but the directory could not be asked now (LDAP is down).</summary>
    Unavailable,
}

public abstract record SubmitResult
{
    private SubmitResult()
    {
    }

    public sealed record Submitted(Guid ApplicationId, string StatusToken) : SubmitResult;

    public sealed record Invalid(IReadOnlyList<FieldError> Errors) : SubmitResult;
}

public enum WithdrawResult
{
    Withdrawn,
    NotFound,
    AlreadyDecided,
}

/// <summary>What an applicant can do: check a username, apply, look up their application, withdraw it.</summary>
public sealed class ApplicationService(
    IDbContextFactory<PortalDbContext> contexts,
    IDirectoryProvisioning directory,
    TermsService terms,
    IJobTrigger jobs,
    IOptions<OnboardingOptions> options,
    TimeProvider clock)
{
    public async Task<UsernameAvailability> CheckUsernameAsync(string? candidate, CancellationToken cancellationToken)
    {
        if (!Username.TryParse(candidate?.Trim(), out var username))
        {
            return UsernameAvailability.Invalid;
        }
        if (await IsTakenInPortalAsync(username, cancellationToken))
        {
            return UsernameAvailability.Taken;
        }
        try
        {
            return await directory.UsernameExistsAsync(username, cancellationToken) ? UsernameAvailability.Taken : UsernameAvailability.Available;
        }
        catch (DirectoryUnavailableException)
        {
            return UsernameAvailability.Unavailable;
        }
    }

    public async Task<SubmitResult> SubmitAsync(
        string? fullName, string? email, string? affiliationId, string? department, string? desiredUsername, string? purpose,
        bool acceptedTerms, int? shownTermsVersion, string? sourceAddress, CancellationToken cancellationToken)
    {
        var (form, errors) = ApplicationForm.Validate(fullName, email, affiliationId, department, desiredUsername, purpose,
            acceptedTerms, options.Value.AllowedEmailDomains);
        if (form is null)
        {
            return new SubmitResult.Invalid(errors);
        }
        var current = await terms.CurrentAsync(cancellationToken);
        if (shownTermsVersion != current.Version)
        {
            // The terms changed while the form was open: what they accepted is not what is in force.
            return new SubmitResult.Invalid([new FieldError(ApplicationForm.Fields.AcceptTerms, ApplicationForm.Codes.TermsNotAccepted)]);
        }
        var conflicts = await PortalConflictsAsync(form, cancellationToken);
        // The directory is asked only about what the portal's own records leave open. When it cannot be asked, the
        // application is still accepted, marked as not checked against it; the review page and approval ask again.
        var checkedAgainstDirectory = true;
        try
        {
            if (!conflicts.Any(e => e.Field == ApplicationForm.Fields.DesiredUsername)
                && await directory.UsernameExistsAsync(form.DesiredUsername, cancellationToken))
            {
                conflicts.Add(new FieldError(ApplicationForm.Fields.DesiredUsername, ApplicationForm.Codes.UsernameTaken));
            }
            if (!conflicts.Any(e => e.Field == ApplicationForm.Fields.Email)
                && await directory.UidWithEmailAsync(form.Email, cancellationToken) is not null)
            {
                conflicts.Add(new FieldError(ApplicationForm.Fields.Email, ApplicationForm.Codes.EmailHasAccount));
            }
        }
        catch (DirectoryUnavailableException)
        {
            checkedAgainstDirectory = false;
        }
        if (conflicts.Count > 0)
        {
            return new SubmitResult.Invalid(conflicts);
        }

        var token = SecretTokens.NewToken();
        var now = clock.GetUtcNow();
        var application = AccountApplication.Submit(form, current.Version, now, sourceAddress, SecretTokens.Hash(token), checkedAgainstDirectory);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.Applications.Add(application);
        OutboxMailer.Stage(db, OnboardingMails.Received(application, options.Value.Link($"/apply/status/{token}")), $"received:{application.Id}", now);
        foreach (var staff in await StaffRecipientsAsync(db, cancellationToken))
        {
            OutboxMailer.Stage(db, OnboardingMails.StaffNotice(staff, application, options.Value.Link($"/review/{application.Id}")),
                $"staff-notice:{application.Id}:{staff.Value}", now);
        }
        AuditLog.Stage(db, AuditActor.Anonymous(sourceAddress), "application.submitted", ProvisioningService.ApplicationTarget(application.Id),
            new { username = form.DesiredUsername.Value, email = form.Email.Value, department = form.Department, checkedAgainstDirectory }, now);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } unique)
        {
            // Two submissions raced; the partial unique indexes let exactly one open application through.
            var field = unique.ConstraintName == "ix_account_applications_open_username"
                ? ApplicationForm.Fields.DesiredUsername : ApplicationForm.Fields.Email;
            var code = field == ApplicationForm.Fields.DesiredUsername ? ApplicationForm.Codes.UsernameTaken : ApplicationForm.Codes.OpenApplicationExists;
            return new SubmitResult.Invalid([new FieldError(field, code)]);
        }
        await jobs.RunSoonAsync(JobRequest.MailDispatch, cancellationToken);
        return new SubmitResult.Submitted(application.Id, token);
    }

    /// <summary>The application behind a status link, or null.</summary>
    public async Task<AccountApplication?> FindByStatusTokenAsync(string? token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 100)
        {
            return null;
        }
        var hash = SecretTokens.Hash(token);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Applications.AsNoTracking().SingleOrDefaultAsync(a => a.StatusTokenHash == hash, cancellationToken);
    }

    public async Task<WithdrawResult> WithdrawAsync(string? token, string? sourceAddress, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 100)
        {
            return WithdrawResult.NotFound;
        }
        var hash = SecretTokens.Hash(token);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var application = await db.Applications.SingleOrDefaultAsync(a => a.StatusTokenHash == hash, cancellationToken);
        if (application is null)
        {
            return WithdrawResult.NotFound;
        }
        if (application.State != ApplicationState.Submitted)
        {
            return WithdrawResult.AlreadyDecided;
        }
        application.Withdraw(clock.GetUtcNow());
        AuditLog.Stage(db, AuditActor.Anonymous(sourceAddress), "application.withdrawn",
            ProvisioningService.ApplicationTarget(application.Id), null, clock.GetUtcNow());
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return WithdrawResult.AlreadyDecided;
        }
        return WithdrawResult.Withdrawn;
    }

    private static readonly ApplicationState[] OpenStates =
        [ApplicationState.Submitted, ApplicationState.Approved, ApplicationState.ProvisioningFailed];

    /// <summary>Taken by an account or an open application (LDAP is asked separately).</summary>
    private async Task<bool> IsTakenInPortalAsync(Username username, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Accounts.AnyAsync(a => a.Username == username, cancellationToken)
            || await db.Applications.AnyAsync(a => a.DesiredUsername == username && OpenStates.Contains(a.State), cancellationToken);
    }

    /// <summary>
    /// What the portal's own records say against the form: the username taken, an open application with the email, or an
    /// account with the email (one person, one account). Emails are compared without case.
    /// </summary>
    private async Task<List<FieldError>> PortalConflictsAsync(ApplicationForm form, CancellationToken cancellationToken)
    {
        var conflicts = new List<FieldError>();
        if (await IsTakenInPortalAsync(form.DesiredUsername, cancellationToken))
        {
            conflicts.Add(new FieldError(ApplicationForm.Fields.DesiredUsername, ApplicationForm.Codes.UsernameTaken));
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var email = form.Email.Canonical;
        if (await db.Database.SqlQuery<int>($"""
                SELECT 1 AS "Value" FROM account_applications
                WHERE lower(email) = {email} AND state IN ('Submitted', 'Approved', 'ProvisioningFailed')
                """).AnyAsync(cancellationToken))
        {
            conflicts.Add(new FieldError(ApplicationForm.Fields.Email, ApplicationForm.Codes.OpenApplicationExists));
        }
        else if (await AccountWithEmailAsync(db, form.Email, cancellationToken) is not null)
        {
            conflicts.Add(new FieldError(ApplicationForm.Fields.Email, ApplicationForm.Codes.EmailHasAccount));
        }
        return conflicts;
    }

    /// <summary>The username of the portal account with this email address (compared without case), or null.</summary>
    internal static async Task<string?> AccountWithEmailAsync(PortalDbContext db, EmailAddress email, CancellationToken cancellationToken)
    {
        var canonical = email.Canonical;
        return await db.Database.SqlQuery<string>($"""
            SELECT username AS "Value" FROM accounts WHERE lower(email) = {canonical} ORDER BY username LIMIT 1
            """).FirstOrDefaultAsync(cancellationToken);
    }

    private async Task<IReadOnlyList<EmailAddress>> StaffRecipientsAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        var configured = options.Value.StaffNotificationEmails
            .Select(e => EmailAddress.TryParse(e, out var address) ? address : null).OfType<EmailAddress>().ToList();
        if (configured.Count > 0)
        {
            return configured;
        }
        var staff = await db.Accounts.Where(a => (a.Role == Role.Staff || a.Role == Role.Admin) && a.Email != null)
            .Select(a => a.Email!).ToListAsync(cancellationToken);
        return staff.Distinct().ToList();
    }
}
