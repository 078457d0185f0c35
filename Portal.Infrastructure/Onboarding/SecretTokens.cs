using System.Security.Cryptography;
using System.Text;

namespace Portal.Infrastructure.Onboarding;

/// <summary>Random secrets for links and initial passwords, and the hashes that are stored instead of them.</summary>
public static class SecretTokens
{
    // No 0/O, 1/l/I: the initial password is read off a screen and typed.
    private const string PasswordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    /// <summary>256 random bits, URL-safe.</summary>
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>What is stored for a token: its SHA-256, hex.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>A 16-character password from a CSPRNG (about 93 bits).</summary>
    public static string NewPassword() => RandomNumberGenerator.GetString(PasswordAlphabet, 16);

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
