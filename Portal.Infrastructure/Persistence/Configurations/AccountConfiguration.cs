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

        builder.HasIndex(a => a.Username).IsUnique().HasDatabaseName("ix_accounts_username");
        builder.HasIndex(a => a.UidNumber).IsUnique().HasFilter("uid_number IS NOT NULL").HasDatabaseName("ix_accounts_uid_number");
    }
}
