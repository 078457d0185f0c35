using System.Text;
using Portal.Domain.Common;

namespace Portal.Domain.Onboarding.Import;

/// <summary>
/// One data record of an import file as read, before any rule is checked. <c>RowNumber</c> is the record's number in
/// the file, the header being row 1 (a spreadsheet's row number); the columns are null when the record was
/// unreadable, and <c>Problem</c> then says why (too long, wrong field count).
/// </summary>
public sealed record ImportRecord(int RowNumber, string? Name, string? Email, string? Id, string? Department, string? Username, string? Problem);

/// <summary>What reading a file gave: the records, or why the file as a whole is refused.</summary>
public sealed record ImportCsvResult(IReadOnlyList<ImportRecord> Records, string? FileProblem, string? FileProblemDetail)
{
    public static ImportCsvResult Refused(string problem, string? detail = null) => new([], problem, detail);
}

/// <summary>
/// Reads a bulk-onboarding file: UTF-8 (a BOM is allowed), comma-separated with RFC 4180 quoting, a header row
/// <c>name,email,id,department[,username]</c> in any order. Limits keep a hostile file cheap: the file's size, the
/// number of records, and each record's length (a longer record is reported and its text dropped; the rest go on).
/// </summary>
public static class ImportCsv
{
    public const int MaxBytes = 1024 * 1024;
    public const int MaxRows = 2000;
    public const int MaxRecordLength = 1000;

    public static readonly string[] RequiredColumns = ["name", "email", "id", "department"];
    public const string OptionalColumn = "username";

    public static class Problems
    {
        public const string FileTooLarge = "FileTooLarge";
        public const string FileEmpty = "FileEmpty";
        public const string NotUtf8 = "NotUtf8";
        public const string HeaderMissingColumn = "HeaderMissingColumn";
        public const string HeaderUnknownColumn = "HeaderUnknownColumn";
        public const string HeaderDuplicateColumn = "HeaderDuplicateColumn";

        /// <summary>A header cell holds control characters: no column is named so, and the cell is not repeated back.</summary>
        public const string HeaderControlCharacters = "HeaderControlCharacters";

        public const string TooManyRows = "TooManyRows";
        public const string NoRows = "NoRows";
        public const string RowTooLong = "RowTooLong";
        public const string WrongFieldCount = "WrongFieldCount";
        public const string UnterminatedQuote = "UnterminatedQuote";
    }

    public static ImportCsvResult Read(ReadOnlySpan<byte> content)
    {
        if (content.Length > MaxBytes)
        {
            return ImportCsvResult.Refused(Problems.FileTooLarge);
        }
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(content);
        }
        catch (DecoderFallbackException)
        {
            return ImportCsvResult.Refused(Problems.NotUtf8);
        }
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }
        var records = Split(text).ToList();
        if (records.Count == 0 || records[0].Fields is null || records[0].Fields!.All(string.IsNullOrWhiteSpace))
        {
            return ImportCsvResult.Refused(Problems.FileEmpty);
        }
        var header = records[0].Fields!.Select(h => h.Trim().ToLowerInvariant()).ToList();
        if (header.Any(h => ControlCharacters.Contains(h)))
        {
            return ImportCsvResult.Refused(Problems.HeaderControlCharacters);
        }
        foreach (var column in header)
        {
            if (!RequiredColumns.Contains(column) && column != OptionalColumn)
            {
                return ImportCsvResult.Refused(Problems.HeaderUnknownColumn, column);
            }
        }
        if (header.GroupBy(h => h).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            return ImportCsvResult.Refused(Problems.HeaderDuplicateColumn, duplicate.Key);
        }
        if (RequiredColumns.FirstOrDefault(c => !header.Contains(c)) is { } missing)
        {
            return ImportCsvResult.Refused(Problems.HeaderMissingColumn, missing);
        }
        var data = records.Skip(1).Where(r => !(r.Fields is [var only] && only.Length == 0)).ToList();
        if (data.Count > MaxRows)
        {
            return ImportCsvResult.Refused(Problems.TooManyRows, data.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (data.Count == 0)
        {
            return ImportCsvResult.Refused(Problems.NoRows);
        }
        var result = new List<ImportRecord>(data.Count);
        foreach (var (row, fields, problem) in data)
        {
            if (problem is not null || fields is null)
            {
                result.Add(new ImportRecord(row, null, null, null, null, null, problem ?? Problems.RowTooLong));
                continue;
            }
            if (fields.Count != header.Count)
            {
                result.Add(new ImportRecord(row, null, null, null, null, null, Problems.WrongFieldCount));
                continue;
            }
            string? Field(string column) => header.IndexOf(column) is var i and >= 0 ? fields[i] : null;
            result.Add(new ImportRecord(row, Field("name"), Field("email"), Field("id"), Field("department"), Field(OptionalColumn), null));
        }
        return new ImportCsvResult(result, null, null);
    }

    /// <summary>RFC 4180 records: fields split on commas, quoted fields may hold commas, doubled quotes and line breaks.</summary>
    private static IEnumerable<(int Row, List<string>? Fields, string? Problem)> Split(string text)
    {
        var row = 1;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            var startRow = row;
            var fields = new List<string>();
            var field = new StringBuilder();
            var tooLong = false;
            var quoted = false;
            var endOfRecord = false;
            while (i < text.Length && !endOfRecord)
            {
                var c = text[i];
                if (quoted)
                {
                    if (c == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }
                        quoted = false;
                    }
                    else
                    {
                        if (c == '\n')
                        {
                            row++;
                        }
                        field.Append(c);
                    }
                    i++;
                }
                else
                {
                    switch (c)
                    {
                        case '"' when field.Length == 0:
                            quoted = true;
                            break;
                        case ',':
                            fields.Add(field.ToString());
                            field.Clear();
                            break;
                        case '\r' when i + 1 < text.Length && text[i + 1] == '\n':
                            i++;
                            endOfRecord = true;
                            break;
                        case '\n' or '\r':
                            endOfRecord = true;
                            break;
                        default:
                            field.Append(c);
                            break;
                    }
                    i++;
                }
                if (i - start > MaxRecordLength)
                {
                    // Keep reading to find where the record ends, but do not keep its text.
                    tooLong = true;
                    field.Clear();
                    fields.Clear();
                }
            }
            row++;
            if (quoted)
            {
                yield return (startRow, null, Problems.UnterminatedQuote);
                yield break;
            }
            fields.Add(field.ToString());
            yield return tooLong ? (startRow, null, Problems.RowTooLong) : (startRow, fields, null);
        }
    }
}
