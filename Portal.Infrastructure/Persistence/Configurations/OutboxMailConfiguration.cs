using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Infrastructure.Mail;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class OutboxMailConfiguration : IEntityTypeConfiguration<OutboxMail>
{
    /// <summary>The column default of migrations/0013, so that EF leaves the value to the database and reads it back.</summary>
    public const string MessageIdDefault = "'<' || gen_random_uuid() || '@outbox.portal>'";

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
        builder.Property(m => m.MessageId).HasColumnName("message_id").HasMaxLength(250).IsRequired()
            .HasDefaultValueSql(MessageIdDefault).ValueGeneratedOnAdd();
        builder.Property(m => m.ClaimedBy).HasColumnName("claimed_by").HasMaxLength(200);
        builder.Property(m => m.ClaimedUntil).HasColumnName("claimed_until");

        builder.HasIndex(m => m.DeduplicationKey).IsUnique().HasDatabaseName("ix_outbox_mails_dedup_key");
        builder.HasIndex(m => m.MessageId).IsUnique().HasDatabaseName("ix_outbox_mails_message_id");
        builder.HasIndex(m => m.NextAttemptAt).HasFilter("sent_at IS NULL").HasDatabaseName("ix_outbox_mails_pending");
    }
}
