using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Terms;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class TermsVersionConfiguration : IEntityTypeConfiguration<TermsVersion>
{
    public void Configure(EntityTypeBuilder<TermsVersion> builder)
    {
        builder.ToTable("terms_versions");
        builder.HasKey(t => t.Version);
        builder.Property(t => t.Version).HasColumnName("version").ValueGeneratedNever();
        builder.Property(t => t.PublishedAt).HasColumnName("published_at");
        builder.Property(t => t.PublishedBy).HasColumnName("published_by").HasMaxLength(64);
        builder.Property(t => t.TextEn).HasColumnName("text_en");
        builder.Property(t => t.TextJa).HasColumnName("text_ja");
    }
}

internal sealed class TermsAcceptanceConfiguration : IEntityTypeConfiguration<TermsAcceptance>
{
    public void Configure(EntityTypeBuilder<TermsAcceptance> builder)
    {
        builder.ToTable("terms_acceptances");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        builder.Property(a => a.Username).HasColumnName("username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(a => a.Version).HasColumnName("version");
        builder.Property(a => a.AcceptedAt).HasColumnName("accepted_at");
        builder.Property(a => a.SourceAddress).HasColumnName("source_address").HasMaxLength(64);

        builder.HasOne<TermsVersion>().WithMany().HasForeignKey(a => a.Version).OnDelete(DeleteBehavior.NoAction);
        builder.HasIndex(a => new { a.Username, a.Version }).IsUnique().HasDatabaseName("ix_terms_acceptances_username_version");
        builder.HasIndex(a => a.Version).HasDatabaseName("ix_terms_acceptances_version");
    }
}
