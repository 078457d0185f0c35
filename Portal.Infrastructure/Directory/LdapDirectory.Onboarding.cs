using System.DirectoryServices.Protocols;
using Portal.Domain.Accounts;

namespace Portal.Infrastructure.Directory;

/// <summary>What onboarding asks the directory besides provisioning: who already has an email address.</summary>
public sealed partial class LdapDirectory
{
    public Task<string?> UidWithEmailAsync(EmailAddress email, CancellationToken cancellationToken) =>
        _service.RunAsync(service =>
        {
            // mail has caseIgnoreIA5Match equality in the core schema, so the directory compares without case.
            var filter = $"(&(objectClass=inetOrgPerson)(mail={LdapEscaping.FilterValue(email.Value)}))";
            var request = new SearchRequest(_options.PeopleDn, filter, SearchScope.Subtree, "uid") { SizeLimit = 1 };
            try
            {
                var response = Send<SearchResponse>(service, request);
                return response.Entries.Count > 0 ? Value(response.Entries[0], "uid") ?? response.Entries[0].DistinguishedName : null;
            }
            catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.SizeLimitExceeded && e.Response is SearchResponse partial)
            {
                return partial.Entries.Count > 0 ? Value(partial.Entries[0], "uid") ?? partial.Entries[0].DistinguishedName : null;
            }
        }, cancellationToken);
}
