namespace Portal.Infrastructure.Accounts;

/// <summary>
/// Passwords too common to allow, from the embedded resource <c>common-passwords.txt</c> (49,233 lowercase entries,
/// one a line, most common first), loaded once and looked up without case.
/// </summary>
/// <remarks>
/// <para>
/// Source: the npm package <c>@zxcvbn-ts/language-common</c> version 4.1.3, file <c>src/passwords.json</c>
/// (the password dictionary of zxcvbn-ts, the TypeScript port of Dropbox's zxcvbn, drawn from leaked password
/// frequency lists). Licence: MIT, "Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.; Copyright (c) 2021
/// @zxcvbn-ts". Tarball sha256 <c>bf3027c16c069d7877e25dc8751bc819e10e479afcc5ee1a323eb2ab73129ca9</c>.
/// </para>
/// <para>
/// Produced outside the repository with:
/// <code>
/// npm pack @zxcvbn-ts/language-common@4.1.3 &amp;&amp; tar xzf zxcvbn-ts-language-common-4.1.3.tgz
/// python3 -c "import json; s=set(); out=[]
/// for p in json.load(open('package/src/passwords.json')):
///     p = p.strip().lower()
///     if p and p not in s: s.add(p); out.append(p)
/// open('common-passwords.txt', 'w', newline='\n').write(''.join(p + '\n' for p in out))"
/// </code>
/// (trimmed, lowercased, empty lines dropped, duplicates removed keeping the first, i.e. most common, place;
/// the source list had no duplicates, so all 49,233 entries remain). Only 308 of them have 12 or more characters:
/// with the default minimum length the list mostly matters when the minimum is lowered.
/// </para>
/// </remarks>
public static class CommonPasswords
{
    public const string ResourceName = "common-passwords.txt";

    private static readonly Lazy<HashSet<string>> Shared = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The list, case-insensitive (ordinal), shared by the whole process.</summary>
    public static IReadOnlySet<string> Instance => Shared.Value;

    private static HashSet<string> Load()
    {
        using var stream = typeof(CommonPasswords).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing from {typeof(CommonPasswords).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        var entries = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                entries.Add(line);
            }
        }
        return entries;
    }
}
