using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Portal.Tests.Support;

/// <summary>One mail as the test SMTP sink received it, decoded.</summary>
public sealed record ReceivedMail(
    string FileName,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    IReadOnlyList<string> Recipients,
    string From,
    string Subject,
    string Body)
{
    /// <summary>The first header of that name (case-insensitive), decoded; null when absent.</summary>
    public string? Header(string name) =>
        Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The Message-ID header as sent, angle brackets included; null when absent.</summary>
    public string? MessageId => Header("Message-ID");

    public bool IsFor(string address) => Recipients.Any(r => string.Equals(r, address, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Reads what the test SMTP sink (aiosmtpd, <c>scripts/lib/smtp.sh</c>) dropped into its Maildir
/// (<see cref="TestEnvironment.SmtpMaildir"/>, folders <c>new</c> and <c>cur</c>). One sink serves the whole test run,
/// so a test always looks for its own unique recipient. Holds a small MIME reader: headers, RFC 2047 encoded words,
/// and single-part bodies in 7bit, 8bit, quoted-printable or base64 (multipart is not used by the portal).
/// </summary>
public static partial class SmtpSink
{
    private static readonly ConcurrentDictionary<string, ReceivedMail> Parsed = new();

    public static string Maildir => TestEnvironment.Current.SmtpMaildir;

    /// <summary>A recipient address no other test uses.</summary>
    public static string UniqueAddress(string prefix = "m") => $"{prefix}-{Guid.NewGuid():N}@example.org";

    /// <summary>Every mail in the Maildir now.</summary>
    public static IReadOnlyList<ReceivedMail> All()
    {
        var mails = new List<ReceivedMail>();
        foreach (var folder in new[] { "new", "cur" })
        {
            var dir = Path.Combine(Maildir, folder);
            if (!System.IO.Directory.Exists(dir))
            {
                continue;
            }
            foreach (var file in System.IO.Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file);
                if (Parsed.TryGetValue(name, out var known))
                {
                    mails.Add(known);
                    continue;
                }
                byte[] raw;
                try
                {
                    raw = File.ReadAllBytes(file);
                }
                catch (FileNotFoundException)
                {
                    continue; // moved from new/ to cur/ by a mail reader between listing and reading
                }
                mails.Add(Parsed.GetOrAdd(name, _ => Parse(name, raw)));
            }
        }
        return mails;
    }

    /// <summary>The mails addressed to <paramref name="recipient"/> (envelope or To/Cc).</summary>
    public static IReadOnlyList<ReceivedMail> For(string recipient) => [.. All().Where(m => m.IsFor(recipient))];

    /// <summary>Polls the Maildir until a mail matches, and returns it; fails the test after <paramref name="timeout"/>.</summary>
    public static async Task<ReceivedMail> WaitForAsync(Func<ReceivedMail, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = All().FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"No matching mail arrived in {Maildir} within {timeout}.");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    /// <summary>Polls until a mail to <paramref name="recipient"/> arrives.</summary>
    public static Task<ReceivedMail> WaitForAsync(string recipient, TimeSpan timeout) => WaitForAsync(m => m.IsFor(recipient), timeout);

    /// <summary>Parses one RFC 5322 message (as bytes: an 8bit body is decoded by its charset).</summary>
    public static ReceivedMail Parse(string fileName, byte[] raw)
    {
        var text = Encoding.Latin1.GetString(raw); // byte-preserving: header and body bytes are decoded below
        var blank = BlankLine().Match(text);
        var headerText = blank.Success ? text[..blank.Index] : text;
        var bodyText = blank.Success ? text[(blank.Index + blank.Length)..] : "";

        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in Unfold(headerText))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var value = Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(line[(colon + 1)..].Trim()));
            headers.Add(new(line[..colon].Trim(), DecodeEncodedWords(value)));
        }
        string? Get(string name) => headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

        var recipients = new List<string>();
        foreach (var name in new[] { "X-RcptTo", "To", "Cc" })
        {
            foreach (var h in headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)))
            {
                recipients.AddRange(AddressPattern().Matches(h.Value).Select(m => m.Value));
            }
        }

        var contentType = Get("Content-Type") ?? "text/plain; charset=us-ascii";
        var charset = CharsetPattern().Match(contentType) is { Success: true } c ? c.Groups["charset"].Value : "us-ascii";
        var bodyBytes = (Get("Content-Transfer-Encoding") ?? "7bit").Trim().ToLowerInvariant() switch
        {
            "base64" => Convert.FromBase64String(string.Concat(bodyText.Where(ch => !char.IsWhiteSpace(ch)))),
            "quoted-printable" => DecodeQuotedPrintable(bodyText),
            _ => Encoding.Latin1.GetBytes(bodyText),
        };
        var body = Encoding.GetEncoding(charset).GetString(bodyBytes).ReplaceLineEndings("\n");

        return new ReceivedMail(fileName, headers, recipients.Distinct(StringComparer.OrdinalIgnoreCase).ToList(),
            Get("From") ?? "", Get("Subject") ?? "", body);
    }

    private static IEnumerable<string> Unfold(string headerText)
    {
        var current = new StringBuilder();
        foreach (var line in headerText.ReplaceLineEndings("\n").Split('\n'))
        {
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t'))
            {
                current.Append(line); // folding white space stays: it separates words
                continue;
            }
            if (current.Length > 0)
            {
                yield return current.ToString();
            }
            current.Clear().Append(line);
        }
        if (current.Length > 0)
        {
            yield return current.ToString();
        }
    }

    /// <summary>RFC 2047: <c>=?charset?B|Q?text?=</c>; white space between two encoded words is dropped.</summary>
    public static string DecodeEncodedWords(string value)
    {
        var decoded = EncodedWord().Replace(value, m =>
        {
            var encoding = Encoding.GetEncoding(m.Groups["charset"].Value.Split('*')[0]); // RFC 2231 language suffix
            var payload = m.Groups["text"].Value;
            var bytes = char.ToUpperInvariant(m.Groups["kind"].Value[0]) == 'B'
                ? Convert.FromBase64String(payload)
                : DecodeQuotedPrintable(payload.Replace('_', ' '));
            return "\u0001" + encoding.GetString(bytes) + "\u0002";
        });
        return BetweenEncodedWords().Replace(decoded, "").Replace("\u0001", "", StringComparison.Ordinal).Replace("\u0002", "", StringComparison.Ordinal);
    }

    /// <summary>Quoted-printable to bytes: <c>=XX</c> escapes and soft line breaks (<c>=</c> at a line end).</summary>
    public static byte[] DecodeQuotedPrintable(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var ch = text[i];
            if (ch != '=')
            {
                bytes.Add((byte)ch);
                continue;
            }
            if (i + 1 < text.Length && text[i + 1] == '\n')
            {
                i += 1;
            }
            else if (i + 2 < text.Length && text[i + 1] == '\r' && text[i + 2] == '\n')
            {
                i += 2;
            }
            else if (i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.Add((byte)ch);
            }
        }
        return [.. bytes];
    }

    [GeneratedRegex(@"\r?\n\r?\n")]
    private static partial Regex BlankLine();

    [GeneratedRegex(@"=\?(?<charset>[^?]+)\?(?<kind>[BbQq])\?(?<text>[^?]*)\?=")]
    private static partial Regex EncodedWord();

    [GeneratedRegex("\u0002[ \t]+\u0001")]
    private static partial Regex BetweenEncodedWords();

    [GeneratedRegex(@"[^\s<>,;:""]+@[^\s<>,;:""]+")]
    private static partial Regex AddressPattern();

    [GeneratedRegex(@"charset\s*=\s*""?(?<charset>[^"";\s]+)""?", RegexOptions.IgnoreCase)]
    private static partial Regex CharsetPattern();
}
