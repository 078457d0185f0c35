using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Infrastructure.Accounts;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class SignInFailureConfiguration : IEntityTypeConfiguration<SignInFailureRecord>
{
    public void Configure(EntityTypeBuilder<SignInFailureRecord> builder)
    {
        builder.ToTable("sign_in_failures");
        builder.HasKey(f => f.Id);
        builder.Property(f => f.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        builder.Property(f => f.Scope).HasColumnName("scope").HasMaxLength(8);
        builder.Property(f => f.Subject).HasColumnName("subject").HasMaxLength(64);
        builder.Property(f => f.FailedAt).HasColumnName("failed_at");
        builder.HasIndex(f => new { f.Scope, f.Subject, f.FailedAt }).HasDatabaseName("ix_sign_in_failures_scope_subject_failed_at");
    }
}
