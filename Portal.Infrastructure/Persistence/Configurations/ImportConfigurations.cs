using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Domain.Onboarding.Import;

namespace Portal.Infrastructure.Persistence.Configurations;

internal sealed class ImportBatchConfiguration : IEntityTypeConfiguration<ImportBatch>
{
    public void Configure(EntityTypeBuilder<ImportBatch> builder)
    {
        builder.ToTable("import_batches");
        builder.HasKey(b => b.Id);
        builder.Property(b => b.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(b => b.FileName).HasColumnName("file_name").HasMaxLength(ImportBatch.FileNameMax);
        builder.Property(b => b.FileHash).HasColumnName("file_hash").HasMaxLength(64);
        builder.Property(b => b.UploadedBy).HasColumnName("uploaded_by").HasMaxLength(Username.MaxLength);
        builder.Property(b => b.UploadedAt).HasColumnName("uploaded_at");
        builder.Property(b => b.TotalRows).HasColumnName("total_rows");
        builder.Property(b => b.ReadyRows).HasColumnName("ready_rows");
        builder.Property(b => b.InvalidRows).HasColumnName("invalid_rows");
        builder.Property(b => b.ExistingRows).HasColumnName("existing_rows");
        builder.Property(b => b.ConfirmedBy).HasColumnName("confirmed_by").HasMaxLength(Username.MaxLength);
        builder.Property(b => b.ConfirmedAt).HasColumnName("confirmed_at");
        builder.Property(b => b.CreatedApplications).HasColumnName("created_applications");
        builder.Property(b => b.Version).HasColumnName("version").IsConcurrencyToken();
        builder.Ignore(b => b.IsConfirmed);

        builder.HasIndex(b => b.FileHash).HasDatabaseName("ix_import_batches_file_hash");
        builder.HasIndex(b => b.UploadedAt).HasDatabaseName("ix_import_batches_uploaded_at");
    }
}

internal sealed class ImportRowConfiguration : IEntityTypeConfiguration<ImportRow>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public void Configure(EntityTypeBuilder<ImportRow> builder)
    {
        builder.ToTable("import_rows");
        builder.HasKey(r => r.Id);
        builder.Property(r => r.Id).HasColumnName("id").UseIdentityByDefaultColumn();
        builder.Property(r => r.BatchId).HasColumnName("batch_id");
        builder.Property(r => r.RowNumber).HasColumnName("row_number");
        builder.Property(r => r.FullName).HasColumnName("full_name").HasMaxLength(ImportRow.ValueMax);
        builder.Property(r => r.Email).HasColumnName("email").HasMaxLength(ImportRow.ValueMax);
        builder.Property(r => r.AffiliationId).HasColumnName("affiliation_id").HasMaxLength(ImportRow.ValueMax);
        builder.Property(r => r.Department).HasColumnName("department").HasMaxLength(ImportRow.ValueMax);
        builder.Property(r => r.Username).HasColumnName("username").HasMaxLength(ImportRow.ValueMax);
        builder.Property(r => r.UsernameProposed).HasColumnName("username_proposed");
        builder.Property(r => r.Problems).HasColumnName("problems").HasColumnType("jsonb")
            .HasConversion(
                p => JsonSerializer.Serialize(p, Json),
                j => JsonSerializer.Deserialize<List<ImportProblem>>(j, Json) ?? new List<ImportProblem>(),
                new ValueComparer<IReadOnlyList<ImportProblem>>(
                    (a, b) => a!.SequenceEqual(b!),
                    p => p.Aggregate(0, (h, x) => HashCode.Combine(h, x)),
                    p => p.ToList()));
        builder.Property(r => r.Result).HasColumnName("result").HasMaxLength(16).HasConversion<string>();
        builder.Property(r => r.ApplicationId).HasColumnName("application_id");

        builder.HasOne<ImportBatch>().WithMany().HasForeignKey(r => r.BatchId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<AccountApplication>().WithMany().HasForeignKey(r => r.ApplicationId).OnDelete(DeleteBehavior.NoAction);
        builder.HasIndex(r => new { r.BatchId, r.RowNumber }).IsUnique().HasDatabaseName("ix_import_rows_batch_id_row_number");
        builder.HasIndex(r => r.ApplicationId).HasDatabaseName("ix_import_rows_application_id");
    }
}
