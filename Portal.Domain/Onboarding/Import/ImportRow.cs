using Portal.Domain.Common;

namespace Portal.Domain.Onboarding.Import;

/// <summary>What became of a row: refused with problems, ready to import, found already there, or imported.</summary>
public enum ImportRowResult
{
    Invalid,
    Ready,
    AlreadyExists,
    Created,
}

/// <summary>One problem of one row: the column (or <c>row</c>), a code for the localized message, and the other row
/// a duplicate was first seen in.</summary>
public sealed record ImportProblem(string Field, string Code, int? OtherRow = null);

/// <summary>One data row of an import batch: its values as shown (shortened for display), its problems and its result.</summary>
public sealed class ImportRow
{
    public const int ValueMax = 300;

    public static class Columns
    {
        public const string Row = "row";
        public const string Name = "name";
        public const string Email = "email";
        public const string Id = "id";
        public const string Department = "department";
        public const string Username = "username";
    }

    public static class Codes
    {
        public const string DuplicateInFile = "DuplicateInFile";
        public const string AlreadyImported = "AlreadyImported";
        public const string AccountExists = "AccountExists";
        public const string EmailRegistered = "EmailRegistered";
    }

    private ImportRow()
    {
        Problems = [];
    }

    public long Id { get; private set; }
    public Guid BatchId { get; private set; }
    public int RowNumber { get; private set; }
    public string? FullName { get; private set; }
    public string? Email { get; private set; }
    public string? AffiliationId { get; private set; }
    public string? Department { get; private set; }

    /// <summary>The username the row asked for, or the one proposed for it.</summary>
    public string? Username { get; private set; }
    public bool UsernameProposed { get; private set; }
    public IReadOnlyList<ImportProblem> Problems { get; private set; }
    public ImportRowResult Result { get; private set; }
    public Guid? ApplicationId { get; private set; }

    public static ImportRow Create(Guid batchId, int rowNumber, string? fullName, string? email, string? affiliationId,
        string? department, string? username, bool usernameProposed, IReadOnlyList<ImportProblem> problems, ImportRowResult result)
    {
        if (result is ImportRowResult.Created)
        {
            throw new DomainException("A row is created by confirming its batch.");
        }
        if ((result == ImportRowResult.Invalid) != (problems.Count > 0 && result != ImportRowResult.AlreadyExists))
        {
            throw new DomainException("An invalid row names its problems; a ready row has none.");
        }
        return new ImportRow
        {
            BatchId = batchId,
            RowNumber = rowNumber,
            FullName = Display(fullName),
            Email = Display(email),
            AffiliationId = Display(affiliationId),
            Department = Display(department),
            Username = Display(username),
            UsernameProposed = usernameProposed,
            Problems = problems,
            Result = result,
        };
    }

    public void MarkCreated(Guid applicationId)
    {
        Require(ImportRowResult.Ready, ImportRowResult.Created);
        ApplicationId = applicationId;
        Result = ImportRowResult.Created;
    }

    /// <summary>At confirmation the person was found already there (another batch or an application came first).</summary>
    public void MarkExisting(ImportProblem reason)
    {
        Require(ImportRowResult.Ready, ImportRowResult.AlreadyExists);
        Problems = [reason];
        Result = ImportRowResult.AlreadyExists;
    }

    /// <summary>At confirmation the row was no longer good (its username was taken meanwhile).</summary>
    public void MarkInvalid(ImportProblem problem)
    {
        Require(ImportRowResult.Ready, ImportRowResult.Invalid);
        Problems = [problem];
        Result = ImportRowResult.Invalid;
    }

    private void Require(ImportRowResult from, ImportRowResult to)
    {
        if (Result != from)
        {
            throw new InvalidTransitionException(nameof(ImportRow), Result.ToString(), to.ToString());
        }
    }

    /// <summary>Values are kept for people to read; a hostile 60,000-character value is cut, never stored whole.</summary>
    /// Control characters (NUL among them, which PostgreSQL cannot store) are shown as U+FFFD.
    private static string? Display(string? value)
    {
        if (value is null)
        {
            return null;
        }
        var shown = value.Length <= ValueMax ? value : string.Concat(value.AsSpan(0, ValueMax - 1), "…");
        return shown.Any(char.IsControl) ? new string([.. shown.Select(c => char.IsControl(c) ? '\uFFFD' : c)]) : shown;
    }
}
