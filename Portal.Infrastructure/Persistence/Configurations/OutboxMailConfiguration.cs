using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Infrastructure.Mail;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class OutboxMailConfiguration : IEntityTypeConfiguration<OutboxMail>
{
    public void Configure(EntityTypeBuilder<OutboxMail> builder)
    {
        builder.ToTable("outbox_mails");
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        builder.Property(m => m.DeduplicationKey).HasColumnName("dedup_key").HasMaxLength(200);
        builder.Property(m => m.Recipient).HasColumnName("recipient").HasMaxLength(254);
        builder.Property(m => m.Subject).HasColumnName("subject").HasMaxLength(300);
        builder.Property(m => m.Body).HasColumnName("body");
        builder.Property(m => m.CreatedAt).HasColumnName("created_at");
        builder.Property(m => m.NextAttemptAt).HasColumnName("next_attempt_at");
        builder.Property(m => m.Attempts).HasColumnName("attempts");
        builder.Property(m => m.LastError).HasColumnName("last_error").HasMaxLength(1000);
        builder.Property(m => m.SentAt).HasColumnName("sent_at");

        builder.HasIndex(m => m.DeduplicationKey).IsUnique().HasDatabaseName("ix_outbox_mails_dedup_key");
        builder.HasIndex(m => m.NextAttemptAt).HasFilter("sent_at IS NULL").HasDatabaseName("ix_outbox_mails_pending");
    }
}
