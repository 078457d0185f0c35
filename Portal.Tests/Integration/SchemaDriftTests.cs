using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;
using Portal.Tests.Support;

namespace Portal.Tests.Integration;

/// <summary>
/// The SQL files are the schema and the EF model describes it; this test is what keeps the two equal. Each side is
/// flattened into lines (tables, columns with type and nullability, keys, indexes, foreign keys) and compared.
/// </summary>
public sealed class SchemaDriftTests : MigratedDatabaseTest
{
    [Fact]
    public async Task MigratedSchema_ComparedWithEfModel_IsIdentical()
    {
        var database = await DatabaseSchemaAsync();
        await using var db = Database.CreateDbContext();
        var model = await CanonicalFiltersAsync(ModelSchema(db));

        var onlyInDatabase = database.Except(model).ToList();
        var onlyInModel = model.Except(database).ToList();
        Assert.True(onlyInDatabase.Count == 0 && onlyInModel.Count == 0,
            "Schema drift between migrations/ and the EF model.\n" +
            $"Only in the migrated database:\n  {string.Join("\n  ", onlyInDatabase)}\n" +
            $"Only in the EF model:\n  {string.Join("\n  ", onlyInModel)}");
        Assert.Contains(model, line => line.StartsWith("table ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ModelSchema_ColumnTypeChanged_IsDetected()
    {
        // Guards the comparison itself: a changed column must show up as a difference.
        await using (var command = Database.DataSource.CreateCommand("ALTER TABLE accounts ALTER COLUMN display_name TYPE text"))
        {
            await command.ExecuteNonQueryAsync();
        }
        var database = await DatabaseSchemaAsync();
        await using var db = Database.CreateDbContext();

        Assert.Contains("column accounts.display_name text not null", database);
        Assert.DoesNotContain("column accounts.display_name text not null", ModelSchema(db));
    }

    private static SortedSet<string> ModelSchema(DbContext db)
    {
        var lines = new SortedSet<string>(StringComparer.Ordinal);
        var model = db.GetService<IDesignTimeModel>().Model.GetRelationalModel();
        foreach (var table in model.Tables)
        {
            lines.Add($"table {table.Name}");
            foreach (var column in table.Columns)
            {
                var identity = column.PropertyMappings.Any(m =>
                    m.Property.GetValueGenerationStrategy() == NpgsqlValueGenerationStrategy.IdentityByDefaultColumn)
                    ? " identity" : "";
                lines.Add($"column {table.Name}.{column.Name} {column.StoreType} {(column.IsNullable ? "null" : "not null")}{identity}");
            }
            if (table.PrimaryKey is { } pk)
            {
                lines.Add($"primary key {table.Name} ({string.Join(", ", pk.Columns.Select(c => c.Name))})");
            }
            foreach (var unique in table.UniqueConstraints.Where(u => u != table.PrimaryKey))
            {
                lines.Add($"index {unique.Name} on {table.Name} ({string.Join(", ", unique.Columns.Select(c => c.Name))}) unique");
            }
            foreach (var index in table.Indexes)
            {
                var filter = index.Filter is null ? "" : $" where {NormalizeFilter(index.Filter)}";
                lines.Add($"index {index.Name} on {table.Name} ({string.Join(", ", index.Columns.Select(c => c.Name))}){(index.IsUnique ? " unique" : "")}{filter}");
            }
            foreach (var fk in table.ForeignKeyConstraints)
            {
                lines.Add($"foreign key {table.Name} ({string.Join(", ", fk.Columns.Select(c => c.Name))}) -> " +
                    $"{fk.PrincipalTable.Name} ({string.Join(", ", fk.PrincipalColumns.Select(c => c.Name))}) on delete {fk.OnDeleteAction.ToString().ToUpperInvariant()}");
            }
        }
        return lines;
    }

    private async Task<SortedSet<string>> DatabaseSchemaAsync()
    {
        var lines = new SortedSet<string>(StringComparer.Ordinal);
        const string ours = "n.nspname = 'public' AND c.relname <> 'schema_migrations'";

        await foreach (var row in QueryAsync($"""
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity = 'd'
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND {ours}
            """))
        {
            lines.Add($"table {row[0]}");
            lines.Add($"column {row[0]}.{row[1]} {row[2]} {((bool)row[3] ? "not null" : "null")}{((bool)row[4] ? " identity" : "")}");
        }

        await foreach (var row in QueryAsync($"""
            SELECT c.relname, i.relname, x.indisprimary, x.indisunique, pg_get_expr(x.indpred, x.indrelid),
                   (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum)
            FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {ours} AND x.indexprs IS NULL
            """))
        {
            // Expression indexes (the trigram search indexes of 0007) cannot be described in EF; tests that rely on
            // them check them directly (UserSearchTests).
            if ((bool)row[2])
            {
                lines.Add($"primary key {row[0]} ({row[5]})");
                continue;
            }
            var filter = row[4] is string predicate ? $" where {NormalizeFilter(predicate)}" : "";
            lines.Add($"index {row[1]} on {row[0]} ({row[5]}){((bool)row[3] ? " unique" : "")}{filter}");
        }

        await foreach (var row in QueryAsync($"""
            SELECT c.relname, f.relname,
                   (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                   (SELECT string_agg(a.attname, ', ' ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum),
                   CASE con.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SETNULL' WHEN 'r' THEN 'RESTRICT' ELSE 'NOACTION' END
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class f ON f.oid = con.confrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE con.contype = 'f' AND {ours}
            """))
        {
            lines.Add($"foreign key {row[0]} ({row[2]}) -> {row[1]} ({row[3]}) on delete {row[4]}");
        }
        return lines;
    }

    /// <summary>
    /// PostgreSQL rewrites an index predicate (<c>state IN (...)</c> becomes <c>(state)::text = ANY (...)</c>), so each
    /// filter of the model is put on a scratch index of a temporary copy of its table and read back the way
    /// PostgreSQL prints it; the two sides then compare like for like.
    /// </summary>
    private async Task<SortedSet<string>> CanonicalFiltersAsync(SortedSet<string> model)
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        await using var connection = await Database.DataSource.OpenConnectionAsync();
        var n = 0;
        foreach (var line in model)
        {
            var match = System.Text.RegularExpressions.Regex.Match(line, @"^(?<head>index \S+ on (?<table>\S+) \((?<columns>[^)]*)\)(?: unique)?) where (?<filter>.+)$");
            if (!match.Success)
            {
                result.Add(line);
                continue;
            }
            n++;
            var sql = $"""
                CREATE TEMP TABLE drift_probe_{n} (LIKE {match.Groups["table"].Value});
                CREATE INDEX drift_probe_index_{n} ON drift_probe_{n} ({match.Groups["columns"].Value}) WHERE {match.Groups["filter"].Value};
                SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'drift_probe_index_{n}'::regclass;
                """;
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            var canonical = (string)(await command.ExecuteScalarAsync())!;
            result.Add($"{match.Groups["head"].Value} where {NormalizeFilter(canonical)}");
        }
        return result;
    }

    /// <summary>PostgreSQL prints a predicate as <c>(uid_number IS NOT NULL)</c>; EF keeps what was written.</summary>
    private static string NormalizeFilter(string filter)
    {
        var trimmed = filter.Trim();
        while (trimmed.StartsWith('(') && trimmed.EndsWith(')'))
        {
            trimmed = trimmed[1..^1].Trim();
        }
        return trimmed;
    }

    private async IAsyncEnumerable<object[]> QueryAsync(string sql)
    {
        await using var command = Database.DataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            yield return row;
        }
    }
}
