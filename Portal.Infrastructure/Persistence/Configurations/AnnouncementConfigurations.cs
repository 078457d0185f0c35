using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Announcements;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class AnnouncementConfiguration : IEntityTypeConfiguration<Announcement>
{
    public void Configure(EntityTypeBuilder<Announcement> builder)
    {
        builder.ToTable("announcements");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(a => a.Severity).HasColumnName("severity").HasMaxLength(16).HasConversion<string>();
        builder.Property(a => a.TextEn).HasColumnName("text_en").HasMaxLength(Announcement.TextMax);
        builder.Property(a => a.TextJa).HasColumnName("text_ja").HasMaxLength(Announcement.TextMax);
        builder.Property(a => a.StartsAt).HasColumnName("starts_at");
        builder.Property(a => a.EndsAt).HasColumnName("ends_at");
        builder.Property(a => a.CreatedBy).HasColumnName("created_by").HasMaxLength(Username.MaxLength);
        builder.Property(a => a.CreatedAt).HasColumnName("created_at");
        builder.Property(a => a.UpdatedBy).HasColumnName("updated_by").HasMaxLength(Username.MaxLength);
        builder.Property(a => a.UpdatedAt).HasColumnName("updated_at");
        builder.Property(a => a.Version).HasColumnName("version").IsConcurrencyToken();

        builder.HasIndex(a => new { a.EndsAt, a.StartsAt }).HasDatabaseName("ix_announcements_ends_at_starts_at");
    }
}

internal sealed class MaintenanceModeConfiguration : IEntityTypeConfiguration<MaintenanceMode>
{
    public void Configure(EntityTypeBuilder<MaintenanceMode> builder)
    {
        builder.ToTable("maintenance_mode");
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(m => m.Enabled).HasColumnName("enabled");
        builder.Property(m => m.MessageEn).HasColumnName("message_en").HasMaxLength(Announcement.TextMax);
        builder.Property(m => m.MessageJa).HasColumnName("message_ja").HasMaxLength(Announcement.TextMax);
        builder.Property(m => m.SetBy).HasColumnName("set_by").HasMaxLength(Username.MaxLength);
        builder.Property(m => m.SetAt).HasColumnName("set_at");
        builder.Property(m => m.Version).HasColumnName("version").IsConcurrencyToken();
    }
}
