using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class AccountConfiguration : IEntityTypeConfiguration<Account>
{
    public void Configure(EntityTypeBuilder<Account> builder)
    {
        builder.ToTable("accounts");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(a => a.Username).HasColumnName("username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(a => a.DisplayName).HasColumnName("display_name").HasMaxLength(200);
        builder.Property(a => a.Email).HasColumnName("email").HasMaxLength(EmailAddress.MaxLength)
            .HasConversion(e => e!.Value, v => EmailAddress.Parse(v));
        builder.Property(a => a.UidNumber).HasColumnName("uid_number");
        builder.Property(a => a.Role).HasColumnName("role").HasMaxLength(16).HasConversion<string>();
        builder.Property(a => a.Status).HasColumnName("status").HasMaxLength(16).HasConversion<string>();
        builder.Property(a => a.MustChangePassword).HasColumnName("must_change_password");
        builder.Property(a => a.AcceptedTermsVersion).HasColumnName("accepted_terms_version");
        builder.Property(a => a.CreatedAt).HasColumnName("created_at");
        builder.Property(a => a.LastSignInAt).HasColumnName("last_sign_in_at");
        builder.Property(a => a.Department).HasColumnName("department").HasMaxLength(100);
        builder.Property(a => a.ApplicationId).HasColumnName("application_id");
        builder.Property(a => a.SuspensionReason).HasColumnName("suspension_reason").HasMaxLength(Account.SuspensionReasonMax);
        builder.Property(a => a.SuspendedBy).HasColumnName("suspended_by").HasMaxLength(64);
        builder.Property(a => a.SuspendedAt).HasColumnName("suspended_at");
        builder.Property(a => a.DirectoryLocked).HasColumnName("directory_locked");
        builder.Property(a => a.RequestedRole).HasColumnName("requested_role").HasMaxLength(16).HasConversion<string>();
        builder.Property(a => a.AdminJobAttempts).HasColumnName("admin_job_attempts");
        builder.Property(a => a.AdminJobError).HasColumnName("admin_job_error").HasMaxLength(1000);
        builder.Property(a => a.AdminJobRequestedAt).HasColumnName("admin_job_requested_at");
        builder.Ignore(a => a.DirectoryChangePending);

        builder.HasIndex(a => a.Username).IsUnique().HasDatabaseName("ix_accounts_username");
        // migrations/0007 also has trigram (GIN) indexes on lower(username), lower(display_name) and lower(email):
        // expression indexes, which EF cannot describe; UserSearchTests checks that the search uses them.
        builder.HasIndex(a => new { a.Status, a.Role }).HasDatabaseName("ix_accounts_status_role");
        builder.HasIndex(a => a.Department).HasDatabaseName("ix_accounts_department");
        builder.HasIndex(a => a.AdminJobRequestedAt).HasFilter("admin_job_requested_at IS NOT NULL").HasDatabaseName("ix_accounts_admin_job_requested_at");
        builder.HasIndex(a => a.UidNumber).IsUnique().HasFilter("uid_number IS NOT NULL").HasDatabaseName("ix_accounts_uid_number");
    }
}
