using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class CredentialLinkConfiguration : IEntityTypeConfiguration<CredentialLink>
{
    public void Configure(EntityTypeBuilder<CredentialLink> builder)
    {
        builder.ToTable("credential_links");
        builder.HasKey(l => l.Id);
        builder.Property(l => l.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(l => l.ApplicationId).HasColumnName("application_id");
        builder.Property(l => l.Username).HasColumnName("username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(l => l.TokenHash).HasColumnName("token_hash").HasMaxLength(64);
        builder.Property(l => l.ProtectedPassword).HasColumnName("protected_password");
        builder.Property(l => l.CreatedAt).HasColumnName("created_at");
        builder.Property(l => l.ExpiresAt).HasColumnName("expires_at");
        builder.Property(l => l.PasswordSetAt).HasColumnName("password_set_at");
        // Two clicks at once: only the first update (still NULL) wins, so the password is shown once.
        builder.Property(l => l.RevealedAt).HasColumnName("revealed_at").IsConcurrencyToken();

        builder.HasOne<AccountApplication>().WithMany().HasForeignKey(l => l.ApplicationId).OnDelete(DeleteBehavior.NoAction);
        builder.HasIndex(l => l.TokenHash).IsUnique().HasDatabaseName("ix_credential_links_token_hash");
        builder.HasIndex(l => l.ApplicationId).IsUnique().HasDatabaseName("ix_credential_links_application_id");
        builder.HasIndex(l => l.Username).HasDatabaseName("ix_credential_links_username");
    }
}
