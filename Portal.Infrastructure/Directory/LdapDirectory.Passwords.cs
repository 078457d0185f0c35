using System.DirectoryServices.Protocols;
using System.Formats.Asn1;
using System.Text;
using Microsoft.Extensions.Logging;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>
/// Self-service password change: bind as the person with the current password, then the Password Modify extended
/// operation (RFC 3062) with the old and the new password on that connection. The server applies its password
/// policy (quality, history) and clears <c>pwdReset</c>; see shared/reference/ldap.md §3.4–3.6.
/// </summary>
public sealed partial class LdapDirectory : IPasswordChanger
{
    /// <summary>RFC 3062 Password Modify extended operation.</summary>
    public const string PasswordModifyOid = "1.3.6.1.4.1.4203.1.11.1";

    /// <summary>The ppolicy request/response control (draft-behera-ldap-password-policy).</summary>
    public const string PasswordPolicyControlOid = "1.3.6.1.4.1.42.2.27.8.5.1";

    // PasswordPolicyResponseValue.error values that name a rejected new password.
    private const int InsufficientPasswordQuality = 5;
    private const int PasswordTooShort = 6;
    private const int PasswordInHistory = 8;

    public Task<PasswordChangeOutcome> ChangePasswordAsync(Username username, string currentPassword, string newPassword,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(username);
        // An empty password would be an unauthenticated bind, and an empty new password asks the server to make one up.
        if (string.IsNullOrEmpty(currentPassword))
        {
            throw new ArgumentException("The current password is required.", nameof(currentPassword));
        }
        if (string.IsNullOrEmpty(newPassword))
        {
            throw new ArgumentException("A new password is required.", nameof(newPassword));
        }
        var current = PasswordText.Normalize(currentPassword);
        var next = PasswordText.Normalize(newPassword);
        return ChangePasswordCoreAsync(username, current, next, cancellationToken);
    }

    private async Task<PasswordChangeOutcome> ChangePasswordCoreAsync(Username username, string currentPassword, string newPassword,
        CancellationToken cancellationToken)
    {
        var dn = await _service.RunAsync(service => FindSingleEntry(service, username.Value)?.DistinguishedName, cancellationToken)
            .ConfigureAwait(false);
        if (dn is null)
        {
            return new PasswordChangeOutcome.WrongCurrentPassword();
        }
        return await Task.Run(() => ChangePasswordAsPerson(username, dn, currentPassword, newPassword), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Bind and Password Modify on the person's own connection, never a service-account one, and never repeated.</summary>
    private PasswordChangeOutcome ChangePasswordAsPerson(Username username, string dn, string currentPassword, string newPassword)
    {
        LdapConnection connection;
        try
        {
            connection = ConnectAsPerson(dn, currentPassword);
        }
        catch (LdapException e) when (e.ErrorCode == 49)
        {
            // Wrong, locked and disabled look alike here; sign-in tells them apart, a password change need not.
            return new PasswordChangeOutcome.WrongCurrentPassword();
        }
        catch (DirectoryOperationException e)
        {
            LogPasswordBindRefused(_logger, username.Value, e.Message);
            return new PasswordChangeOutcome.WrongCurrentPassword();
        }
        catch (LdapException e)
        {
            throw new DirectoryUnavailableException($"LDAP bind failed: {e.Message} ({e.ErrorCode})", e);
        }

        using var bound = connection;
        var request = new ExtendedRequest(PasswordModifyOid, PasswordModifyRequestValue(currentPassword, newPassword));
        // Asks the server to say which of its rules a refused password broke (a response control on the error).
        request.Controls.Add(new DirectoryControl(PasswordPolicyControlOid, null, false, true));
        try
        {
            connection.SendRequest(request, TimeSpan.FromSeconds(_options.TimeoutSeconds));
            return new PasswordChangeOutcome.Changed();
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.UnwillingToPerform)
        {
            // slapd answers 53 "unwilling to verify old password" when the old password in the request is wrong.
            return new PasswordChangeOutcome.WrongCurrentPassword();
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.ConstraintViolation)
        {
            var message = e.Response.ErrorMessage ?? "";
            var reason = PolicyRejection(e.Response.Controls);
            LogPasswordRefusedByDirectory(_logger, username.Value, reason, message);
            return new PasswordChangeOutcome.RejectedByDirectory(reason, message);
        }
        catch (DirectoryOperationException e)
        {
            throw new DirectoryUnavailableException(
                $"LDAP Password Modify failed: {e.Response?.ResultCode} {e.Response?.ErrorMessage ?? e.Message}", e);
        }
        catch (LdapException e)
        {
            throw new DirectoryUnavailableException($"LDAP Password Modify failed: {e.Message} ({e.ErrorCode})", e);
        }
    }

    /// <summary>
    /// <c>PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OPTIONAL, oldPasswd [1] OPTIONAL, newPasswd [2] OPTIONAL }</c>.
    /// The identity is left out: the server changes the password of the bound user.
    /// </summary>
    internal static byte[] PasswordModifyRequestValue(string oldPassword, string newPassword)
    {
        var writer = new AsnWriter(AsnEncodingRules.BER);
        using (writer.PushSequence())
        {
            writer.WriteOctetString(Encoding.UTF8.GetBytes(oldPassword), new Asn1Tag(TagClass.ContextSpecific, 1));
            writer.WriteOctetString(Encoding.UTF8.GetBytes(newPassword), new Asn1Tag(TagClass.ContextSpecific, 2));
        }
        return writer.Encode();
    }

    /// <summary>
    /// Reads the error of a ppolicy response control:
    /// <c>SEQUENCE { warning [0] CHOICE {...} OPTIONAL, error [1] ENUMERATED OPTIONAL }</c>.
    /// </summary>
    private static DirectoryPasswordRejection PolicyRejection(DirectoryControl[]? controls)
    {
        var control = controls?.FirstOrDefault(c => c.Type == PasswordPolicyControlOid);
        if (control?.GetValue() is not { Length: > 0 } value)
        {
            return DirectoryPasswordRejection.Other;
        }
        try
        {
            var sequence = new AsnReader(value, AsnEncodingRules.BER).ReadSequence();
            while (sequence.HasData)
            {
                var tag = sequence.PeekTag();
                if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue == 1 && !tag.IsConstructed)
                {
                    var error = sequence.ReadInteger(new Asn1Tag(TagClass.ContextSpecific, 1));
                    return error == PasswordInHistory ? DirectoryPasswordRejection.InHistory
                        : error == InsufficientPasswordQuality || error == PasswordTooShort ? DirectoryPasswordRejection.Quality
                        : DirectoryPasswordRejection.Other;
                }
                sequence.ReadEncodedValue();
            }
        }
        catch (AsnContentException)
        {
            // A malformed control says nothing more than its absence would.
        }
        return DirectoryPasswordRejection.Other;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "LDAP bind for the password change of {Uid} refused: {Reason}")]
    private static partial void LogPasswordBindRefused(ILogger logger, string uid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "LDAP refused the new password of {Uid} ({Reason}): {ServerMessage}")]
    private static partial void LogPasswordRefusedByDirectory(ILogger logger, string uid, DirectoryPasswordRejection reason, string serverMessage);
}
