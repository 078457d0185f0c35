using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Usage;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class StorageSampleConfiguration : IEntityTypeConfiguration<StorageSample>
{
    public void Configure(EntityTypeBuilder<StorageSample> builder)
    {
        builder.ToTable("storage_samples", t => t.HasCheckConstraint("ck_storage_samples_bytes", "bytes >= 0"));
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        builder.Property(s => s.Username).HasColumnName("username").HasMaxLength(Username.MaxLength);
        builder.Property(s => s.SampledAt).HasColumnName("sampled_at");
        builder.Property(s => s.Bytes).HasColumnName("bytes");
        builder.HasIndex(s => new { s.Username, s.SampledAt }).HasDatabaseName("ix_storage_samples_username_sampled_at");
    }
}
