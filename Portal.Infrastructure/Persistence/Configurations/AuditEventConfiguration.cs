using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Audit;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class AuditEventConfiguration : IEntityTypeConfiguration<AuditEvent>
{
    public void Configure(EntityTypeBuilder<AuditEvent> builder)
    {
        builder.ToTable("audit_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        builder.Property(e => e.OccurredAt).HasColumnName("occurred_at");
        builder.Property(e => e.Actor).HasColumnName("actor").HasMaxLength(AuditEvent.MaxActorLength);
        builder.Property(e => e.Action).HasColumnName("action").HasMaxLength(AuditEvent.MaxActionLength);
        builder.Property(e => e.Target).HasColumnName("target").HasMaxLength(AuditEvent.MaxTargetLength);
        builder.Property(e => e.Data).HasColumnName("data").HasColumnType("jsonb");
        builder.Property(e => e.SourceAddress).HasColumnName("source_address").HasMaxLength(64);

        builder.HasIndex(e => e.OccurredAt).HasDatabaseName("ix_audit_events_occurred_at");
        builder.HasIndex(e => new { e.Actor, e.OccurredAt }).HasDatabaseName("ix_audit_events_actor_occurred_at");
    }
}
