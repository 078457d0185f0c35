using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class UserServerConfiguration : IEntityTypeConfiguration<UserServer>
{
    public void Configure(EntityTypeBuilder<UserServer> builder)
    {
        builder.ToTable("user_servers");
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(s => s.Username).HasColumnName("username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(s => s.Backend).HasColumnName("backend").HasMaxLength(32);
        builder.Property(s => s.BackendReference).HasColumnName("backend_reference").HasMaxLength(200);
        builder.Property(s => s.Url).HasColumnName("url").HasMaxLength(2000);
        builder.Property(s => s.CudaToolkit).HasColumnName("cuda_toolkit").HasMaxLength(16);
        builder.Property(s => s.Desired).HasColumnName("desired_state").HasMaxLength(16).HasConversion<string>();
        builder.Property(s => s.Observed).HasColumnName("observed_state").HasMaxLength(16).HasConversion<string>();
        builder.Property(s => s.StateChangedAt).HasColumnName("state_changed_at");
        builder.Property(s => s.StartRequestedAt).HasColumnName("start_requested_at");
        builder.Property(s => s.ReadyAt).HasColumnName("ready_at");
        builder.Property(s => s.LastActivityAt).HasColumnName("last_activity_at");
        builder.Property(s => s.IdleWarnedAt).HasColumnName("idle_warned_at");
        builder.Property(s => s.FailureReason).HasColumnName("failure_reason").HasMaxLength(UserServer.ReasonMax);
        builder.Property(s => s.Attempts).HasColumnName("attempts");
        builder.Property(s => s.LastError).HasColumnName("last_error").HasMaxLength(UserServer.ReasonMax);
        builder.Property(s => s.ProgressPercent).HasColumnName("progress_percent");
        builder.Property(s => s.ProgressMessage).HasColumnName("progress_message").HasMaxLength(UserServer.MessageMax);
        builder.Property(s => s.CurrentSessionId).HasColumnName("current_session_id");
        builder.Property(s => s.RestartAfterStop).HasColumnName("restart_after_stop");
        builder.Property(s => s.Version).HasColumnName("version").IsConcurrencyToken();
        builder.Ignore(s => s.IsPending);
        builder.Ignore(s => s.Reference);

        builder.HasIndex(s => s.Username).IsUnique().HasDatabaseName("ix_user_servers_username");
        builder.HasIndex(s => s.Observed).HasDatabaseName("ix_user_servers_observed_state");
    }
}

internal sealed class ServerSessionConfiguration : IEntityTypeConfiguration<ServerSession>
{
    public void Configure(EntityTypeBuilder<ServerSession> builder)
    {
        builder.ToTable("server_sessions");
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(s => s.ServerId).HasColumnName("server_id");
        builder.Property(s => s.Username).HasColumnName("username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(s => s.Backend).HasColumnName("backend").HasMaxLength(32);
        builder.Property(s => s.RequestedAt).HasColumnName("requested_at");
        builder.Property(s => s.ReadyAt).HasColumnName("ready_at");
        builder.Property(s => s.EndedAt).HasColumnName("ended_at");
        builder.Property(s => s.Outcome).HasColumnName("outcome").HasMaxLength(16).HasConversion<string>();
        builder.Property(s => s.GpuCount).HasColumnName("gpu_count");
        builder.Property(s => s.CudaToolkit).HasColumnName("cuda_toolkit").HasMaxLength(16);
        builder.Property(s => s.FailureReason).HasColumnName("failure_reason").HasMaxLength(UserServer.ReasonMax);
        builder.Ignore(s => s.SpawnDuration);

        builder.HasOne<UserServer>().WithMany().HasForeignKey(s => s.ServerId).OnDelete(DeleteBehavior.NoAction);
        builder.HasIndex(s => new { s.Username, s.RequestedAt }).HasDatabaseName("ix_server_sessions_username_requested_at");
        builder.HasIndex(s => s.RequestedAt).HasDatabaseName("ix_server_sessions_requested_at");
        builder.HasIndex(s => s.ServerId).HasDatabaseName("ix_server_sessions_server_id");
        builder.HasIndex(s => s.EndedAt).HasDatabaseName("ix_server_sessions_ended_at");
        builder.HasIndex(s => s.ReadyAt).HasFilter("ready_at IS NOT NULL").HasDatabaseName("ix_server_sessions_ready_at");
    }
}

internal sealed class GpuAssignmentConfiguration : IEntityTypeConfiguration<GpuAssignment>
{
    public void Configure(EntityTypeBuilder<GpuAssignment> builder)
    {
        builder.ToTable("gpu_assignments");
        builder.HasKey(g => g.GpuIndex);
        builder.Property(g => g.GpuIndex).HasColumnName("gpu_index").ValueGeneratedNever();
        builder.Property(g => g.ServerId).HasColumnName("server_id");
        builder.Property(g => g.AssignedAt).HasColumnName("assigned_at");
        builder.HasOne<UserServer>().WithMany().HasForeignKey(g => g.ServerId).OnDelete(DeleteBehavior.NoAction);
        builder.HasIndex(g => g.ServerId).HasDatabaseName("ix_gpu_assignments_server_id");
    }
}

internal sealed class ResourcePlanConfiguration : IEntityTypeConfiguration<ResourcePlan>
{
    public void Configure(EntityTypeBuilder<ResourcePlan> builder)
    {
        builder.ToTable("resource_plans");
        builder.HasKey(p => p.Name);
        builder.Property(p => p.Name).HasColumnName("name").HasMaxLength(32);
        builder.Property(p => p.CpuCores).HasColumnName("cpu_cores").HasPrecision(6, 2);
        builder.Property(p => p.MemoryGiB).HasColumnName("memory_gib");
        builder.Property(p => p.StorageGiB).HasColumnName("storage_gib");
        builder.Property(p => p.GpuCount).HasColumnName("gpu_count");
        builder.Property(p => p.GpuModel).HasColumnName("gpu_model").HasMaxLength(64);
        builder.Property(p => p.IsDefault).HasColumnName("is_default");
        builder.Ignore(p => p.Limits);
        builder.HasIndex(p => p.IsDefault).IsUnique().HasFilter("is_default").HasDatabaseName("ix_resource_plans_default");
    }
}

internal sealed class QuotaOverrideConfiguration : IEntityTypeConfiguration<QuotaOverride>
{
    public void Configure(EntityTypeBuilder<QuotaOverride> builder)
    {
        builder.ToTable("quota_overrides");
        builder.HasKey(q => q.Username);
        builder.Property(q => q.Username).HasColumnName("username").HasMaxLength(Username.MaxLength)
            .HasConversion(u => u.Value, v => Username.Parse(v));
        builder.Property(q => q.PlanName).HasColumnName("plan_name").HasMaxLength(32);
        builder.Property(q => q.CpuCores).HasColumnName("cpu_cores").HasPrecision(6, 2);
        builder.Property(q => q.MemoryGiB).HasColumnName("memory_gib");
        builder.Property(q => q.StorageGiB).HasColumnName("storage_gib");
        builder.Property(q => q.GpuCount).HasColumnName("gpu_count");
        builder.Property(q => q.GpuModel).HasColumnName("gpu_model").HasMaxLength(64);
        builder.Property(q => q.Version).HasColumnName("version").IsConcurrencyToken();
        builder.HasOne<ResourcePlan>().WithMany().HasForeignKey(q => q.PlanName).OnDelete(DeleteBehavior.NoAction);
        builder.HasIndex(q => q.PlanName).HasDatabaseName("ix_quota_overrides_plan_name");
    }
}

internal sealed class CudaToolkitConfiguration : IEntityTypeConfiguration<CudaToolkit>
{
    public void Configure(EntityTypeBuilder<CudaToolkit> builder)
    {
        builder.ToTable("cuda_toolkits");
        builder.HasKey(t => t.Version);
        builder.Property(t => t.Version).HasColumnName("version").HasMaxLength(16);
        builder.Property(t => t.MinimumDriver).HasColumnName("minimum_driver").HasMaxLength(32);
        builder.Property(t => t.Provisions).HasColumnName("provisions").HasColumnType("jsonb")
            .HasConversion(
                p => System.Text.Json.JsonSerializer.Serialize(p, (System.Text.Json.JsonSerializerOptions?)null),
                v => System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(v, (System.Text.Json.JsonSerializerOptions?)null) ?? new Dictionary<string, string>(),
                new Microsoft.EntityFrameworkCore.ChangeTracking.ValueComparer<Dictionary<string, string>>(
                    (a, b) => a!.Count == b!.Count && !a.Except(b).Any(),
                    d => d.Aggregate(0, (h, kv) => HashCode.Combine(h, kv.Key, kv.Value)),
                    d => new Dictionary<string, string>(d)));
    }
}
