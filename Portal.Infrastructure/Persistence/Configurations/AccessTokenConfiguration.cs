using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Api;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class AccessTokenConfiguration : IEntityTypeConfiguration<AccessToken>
{
    public void Configure(EntityTypeBuilder<AccessToken> builder)
    {
        builder.ToTable("access_tokens");
        builder.HasKey(t => t.Id);
        builder.Property(t => t.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(t => t.Name).HasColumnName("name").HasMaxLength(AccessToken.NameMax);
        builder.Property(t => t.Owner).HasColumnName("owner").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(t => t.Scopes).HasColumnName("scopes").HasConversion<int>();
        builder.Property(t => t.Prefix).HasColumnName("prefix").HasMaxLength(16);
        builder.Property(t => t.SecretHash).HasColumnName("secret_hash").HasMaxLength(64);
        builder.Property(t => t.CreatedBy).HasColumnName("created_by").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(t => t.CreatedAt).HasColumnName("created_at");
        builder.Property(t => t.ExpiresAt).HasColumnName("expires_at");
        builder.Property(t => t.RevokedAt).HasColumnName("revoked_at");
        builder.Property(t => t.RevokedBy).HasColumnName("revoked_by").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u!.Value, v => Username.Parse(v));
        builder.Property(t => t.LastUsedAt).HasColumnName("last_used_at");

        builder.HasIndex(t => t.SecretHash).IsUnique().HasDatabaseName("ix_access_tokens_secret_hash");
        builder.HasIndex(t => t.Owner).HasDatabaseName("ix_access_tokens_owner");
        builder.HasIndex(t => t.CreatedAt).HasDatabaseName("ix_access_tokens_created_at");
    }
}
