using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Portal.Domain.Accounts;
using Portal.Domain.Audit;
using Portal.Domain.Onboarding;
using Portal.Infrastructure.Mail;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Terms;

namespace Portal.Infrastructure.Onboarding;

public enum UsernameAvailability
{
    Available,
    Invalid,
    Taken,
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
    IMailDispatchTrigger mail,
    IOptions<OnboardingOptions> options,
    TimeProvider clock)
{
    public async Task<UsernameAvailability> CheckUsernameAsync(string? candidate, CancellationToken cancellationToken)
    {
        if (!Username.TryParse(candidate?.Trim(), out var username))
        {
            return UsernameAvailability.Invalid;
        }
        return await IsTakenAsync(username, cancellationToken) ? UsernameAvailability.Taken : UsernameAvailability.Available;
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
        if (await IsTakenAsync(form.DesiredUsername, cancellationToken))
        {
            return new SubmitResult.Invalid([new FieldError(ApplicationForm.Fields.DesiredUsername, ApplicationForm.Codes.UsernameTaken)]);
        }

        var token = SecretTokens.NewToken();
        var now = clock.GetUtcNow();
        var application = AccountApplication.Submit(form, current.Version, now, sourceAddress, SecretTokens.Hash(token));
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (await db.Applications.AnyAsync(a => a.Email == form.Email && OpenStates.Contains(a.State), cancellationToken))
        {
            return new SubmitResult.Invalid([new FieldError(ApplicationForm.Fields.Email, ApplicationForm.Codes.OpenApplicationExists)]);
        }
        db.Applications.Add(application);
        OutboxMailer.Stage(db, OnboardingMails.Received(application, options.Value.Link($"/apply/status/{token}")), $"received:{application.Id}", now);
        foreach (var staff in await StaffRecipientsAsync(db, cancellationToken))
        {
            OutboxMailer.Stage(db, OnboardingMails.StaffNotice(staff, application, options.Value.Link($"/review/{application.Id}")),
                $"staff-notice:{application.Id}:{staff.Value}", now);
        }
        db.AuditEvents.Add(AuditEvent.Record(now, AuditEvent.Anonymous, "application.submitted", ProvisioningService.ApplicationTarget(application.Id),
            JsonSerializer.Serialize(new { username = form.DesiredUsername.Value, email = form.Email.Value, department = form.Department }), sourceAddress));
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
        await mail.RequestDispatchAsync(cancellationToken);
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
        db.AuditEvents.Add(AuditEvent.Record(clock.GetUtcNow(), AuditEvent.Anonymous, "application.withdrawn",
            ProvisioningService.ApplicationTarget(application.Id), "{}", sourceAddress));
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

    /// <summary>Taken by an account, an open application, or an LDAP entry (which may predate the portal).</summary>
    private async Task<bool> IsTakenAsync(Username username, CancellationToken cancellationToken)
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            if (await db.Accounts.AnyAsync(a => a.Username == username, cancellationToken)
                || await db.Applications.AnyAsync(a => a.DesiredUsername == username && OpenStates.Contains(a.State), cancellationToken))
            {
                return true;
            }
        }
        return await directory.UsernameExistsAsync(username, cancellationToken);
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
