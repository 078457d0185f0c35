using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Onboarding.Import;

/// <summary>
/// One uploaded file of people to onboard: previewed (every row checked and kept), then confirmed once, which creates
/// an approved application per good row. The file's SHA-256 lets a second upload of the same file be recognised.
/// </summary>
public sealed class ImportBatch
{
    public const int FileNameMax = 255;

    private ImportBatch()
    {
        FileName = FileHash = UploadedBy = "";
    }

    public Guid Id { get; private set; }
    public string FileName { get; private set; }

    /// <summary>SHA-256 of the file's bytes, lowercase hex.</summary>
    public string FileHash { get; private set; }
    public string UploadedBy { get; private set; }
    public DateTimeOffset UploadedAt { get; private set; }
    public int TotalRows { get; private set; }
    public int ReadyRows { get; private set; }
    public int InvalidRows { get; private set; }
    public int ExistingRows { get; private set; }
    public string? ConfirmedBy { get; private set; }
    public DateTimeOffset? ConfirmedAt { get; private set; }

    /// <summary>Applications the confirmation created (rows found taken or existing at that moment are not counted).</summary>
    public int CreatedApplications { get; private set; }
    public int Version { get; private set; }

    public bool IsConfirmed => ConfirmedAt is not null;

    public static ImportBatch Preview(Guid id, string? fileName, string fileHash, Username uploadedBy, DateTimeOffset at,
        int total, int ready, int invalid, int existing)
    {
        ArgumentNullException.ThrowIfNull(uploadedBy);
        ArgumentException.ThrowIfNullOrWhiteSpace(fileHash);
        var name = string.IsNullOrWhiteSpace(fileName) ? "upload.csv" : fileName.Trim();
        return new ImportBatch
        {
            Id = id,
            FileName = name.Length <= FileNameMax ? name : name[..FileNameMax],
            FileHash = fileHash,
            UploadedBy = uploadedBy.Value,
            UploadedAt = at,
            TotalRows = total,
            ReadyRows = ready,
            InvalidRows = invalid,
            ExistingRows = existing,
        };
    }

    /// <summary>The one confirmation of this batch; the counts are what it found when it ran.</summary>
    public void Confirm(Username by, DateTimeOffset at, int created, int ready, int invalid, int existing)
    {
        ArgumentNullException.ThrowIfNull(by);
        if (IsConfirmed)
        {
            throw new InvalidTransitionException(nameof(ImportBatch), "Confirmed", "Confirmed");
        }
        ConfirmedBy = by.Value;
        ConfirmedAt = at;
        CreatedApplications = created;
        ReadyRows = ready;
        InvalidRows = invalid;
        ExistingRows = existing;
        Version++;
    }
}
