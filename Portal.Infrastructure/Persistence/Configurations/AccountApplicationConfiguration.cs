using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class AccountApplicationConfiguration : IEntityTypeConfiguration<AccountApplication>
{
    private const string OpenStates = "state IN ('Submitted', 'Approved', 'ProvisioningFailed')";

    public void Configure(EntityTypeBuilder<AccountApplication> builder)
    {
        builder.ToTable("account_applications");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(a => a.FullName).HasColumnName("full_name").HasMaxLength(ApplicationForm.FullNameMax);
        builder.Property(a => a.Email).HasColumnName("email").HasMaxLength(EmailAddress.MaxLength)
            .HasConversion(e => e.Value, v => EmailAddress.Parse(v));
        builder.Property(a => a.AffiliationId).HasColumnName("affiliation_id").HasMaxLength(ApplicationForm.AffiliationIdMax);
        builder.Property(a => a.Department).HasColumnName("department").HasMaxLength(ApplicationForm.DepartmentMax);
        builder.Property(a => a.DesiredUsername).HasColumnName("desired_username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(a => a.Purpose).HasColumnName("purpose").HasMaxLength(ApplicationForm.PurposeMax);
        builder.Property(a => a.AcceptedTermsVersion).HasColumnName("accepted_terms_version");
        builder.Property(a => a.State).HasColumnName("state").HasMaxLength(24).HasConversion<string>();
        builder.Property(a => a.SubmittedAt).HasColumnName("submitted_at");
        builder.Property(a => a.SourceAddress).HasColumnName("source_address").HasMaxLength(64);
        builder.Property(a => a.CheckedAgainstDirectory).HasColumnName("checked_against_directory");
        builder.Property(a => a.StatusTokenHash).HasColumnName("status_token_hash").HasMaxLength(64);
        builder.Property(a => a.DecidedBy).HasColumnName("decided_by").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u!.Value, v => Username.Parse(v));
        builder.Property(a => a.DecidedAt).HasColumnName("decided_at");
        builder.Property(a => a.RejectionReason).HasColumnName("rejection_reason").HasMaxLength(AccountApplication.RejectionReasonMax);
        builder.Property(a => a.WithdrawnAt).HasColumnName("withdrawn_at");
        builder.Property(a => a.UidNumber).HasColumnName("uid_number");
        builder.Property(a => a.ProvisionedAt).HasColumnName("provisioned_at");
        builder.Property(a => a.ProvisioningAttempts).HasColumnName("provisioning_attempts");
        builder.Property(a => a.LastProvisioningError).HasColumnName("last_provisioning_error").HasMaxLength(AccountApplication.ErrorMax);
        builder.Property(a => a.NextProvisioningAttemptAt).HasColumnName("next_provisioning_attempt_at");
        // Every state change bumps Version; saving a stale copy fails, which is how the second of two reviewers learns.
        builder.Property(a => a.Version).HasColumnName("version").IsConcurrencyToken();
        builder.Ignore(a => a.IsOpen);
        builder.Ignore(a => a.AwaitsProvisioning);

        builder.HasIndex(a => a.StatusTokenHash).IsUnique().HasDatabaseName("ix_account_applications_status_token_hash");
        builder.HasIndex(a => a.Email).IsUnique().HasFilter(OpenStates).HasDatabaseName("ix_account_applications_open_email");
        builder.HasIndex(a => a.DesiredUsername).IsUnique().HasFilter(OpenStates).HasDatabaseName("ix_account_applications_open_username");
        builder.HasIndex(a => new { a.State, a.SubmittedAt }).HasDatabaseName("ix_account_applications_state_submitted_at");
        builder.HasIndex(a => a.UidNumber).IsUnique().HasFilter("uid_number IS NOT NULL").HasDatabaseName("ix_account_applications_uid_number");
    }
}
