using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Portal.Domain.Accounts;
using Portal.Domain.Onboarding;
using Portal.Infrastructure;
using Portal.Infrastructure.Onboarding;
using Portal.Infrastructure.Persistence;
using Portal.Infrastructure.Persistence.Migrations;
using Portal.Infrastructure.Terms;

namespace Portal.Benchmarks;

/// <summary>
/// N applications approved at once (eight reviewers in parallel): the time from the first approval until every
/// account is provisioned (LDAP entry, initial password, students group, credentials mail queued) through the
/// portal's services and its durable jobs, against plain <c>ldapmodify</c> writing N equivalent entries and group
/// memberships over one StartTLS connection as the same service account, in the same run. Every entry made is
/// deleted again at the end.
/// </summary>
public static class ProvisioningBenchmark
{
    private const int Reviewers = 8;

    public static async Task<int> RunAsync(int count, TimeSpan limit)
    {
        var ldap = LdapSettings.FromEnvironment();
        var run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
        var database = await BenchDatabase.CreateAsync();
        var portalNames = Enumerable.Range(0, count).Select(i => $"pv{run}x{i}").ToList();
        var directNames = Enumerable.Range(0, count).Select(i => $"pd{run}x{i}").ToList();
        // uidNumbers of their own: the test slapd keeps entries, and its unique overlay refuses a number used before.
        var uidBase = 1_000_000_000 + (Random.Shared.Next(0, 1_000_000) * 1_000);
        try
        {
            Console.WriteLine($"applications: {count}   reviewers: {Reviewers}   directory: {ldap.Uri} (StartTLS)   cores: {Environment.ProcessorCount}");
            var portal = await ThroughPortalAsync(database, portalNames, uidBase, limit);
            var inDirectory = await ldap.CountPeopleAsync(portalNames);

            var ldif = new StringBuilder();
            for (var i = 0; i < count; i++)
            {
                ldif.Append(ldap.PersonLdif(directNames[i], uidBase + 500 + i));
            }
            var direct = await ldap.ModifyAsync(ldif.ToString());
            var directInDirectory = await ldap.CountPeopleAsync(directNames);

            Console.WriteLine();
            Console.WriteLine($"{"path",-40} {"all done (s)",13} {"accounts/s",11} {"in LDAP",8}");
            Console.WriteLine($"{"portal (approve → jobs → LDAP)",-40} {portal.TotalSeconds,13:F2} {count / portal.TotalSeconds,11:F1} {inDirectory,8}");
            Console.WriteLine($"{"ldapmodify, one connection",-40} {direct.TotalSeconds,13:F2} {count / direct.TotalSeconds,11:F1} {directInDirectory,8}");
            Console.WriteLine($"ratio ldapmodify / portal: {direct.TotalSeconds / portal.TotalSeconds:F3}");
            return inDirectory == count && directInDirectory == count ? 0 : 1;
        }
        finally
        {
            await ldap.DeletePeopleAsync([.. portalNames, .. directNames]);
            await database.DisposeAsync();
        }
    }

    private static async Task<TimeSpan> ThroughPortalAsync(BenchDatabase database, IReadOnlyList<string> names, int uidBase, TimeSpan limit)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Portal"] = database.ConnectionString;
        builder.Configuration["Servers:DiscoverGpus"] = "false";
        builder.Configuration["Logging:LogLevel:Default"] = "Warning";
        builder.Services.AddPortalInfrastructure(builder.Configuration);
        using var host = builder.Build();
        await host.Services.GetRequiredService<SqlMigrationRunner>().ApplyAsync(CancellationToken.None);
        await database.ExecuteAsync($"SELECT setval('uid_numbers', {uidBase})");
        await host.StartAsync();
        try
        {
            var applications = host.Services.GetRequiredService<ApplicationService>();
            var review = host.Services.GetRequiredService<ReviewService>();
            var terms = await host.Services.GetRequiredService<TermsService>().CurrentAsync(CancellationToken.None);
            var ids = new List<Guid>(names.Count);
            foreach (var name in names)
            {
                var submitted = await applications.SubmitAsync("Bench Person", $"{name}@keio.jp", "B0000001", "Faculty of Science", name,
                    "Benchmark", acceptedTerms: true, terms.Version, "192.0.2.1", CancellationToken.None);
                ids.Add(submitted is SubmitResult.Submitted s ? s.ApplicationId : throw new InvalidOperationException($"Not submitted: {submitted}"));
            }

            var reviewer = Username.Parse("benchstaff");
            var contexts = host.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>();
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = Reviewers }, async (id, ct) =>
            {
                var decided = await review.ApproveAsync(id, reviewer, null, ct);
                if (decided is not DecisionResult.Decided)
                {
                    throw new InvalidOperationException($"Approval of {id} answered {decided}.");
                }
            });
            var approved = clock.Elapsed;
            int provisioned = 0, failed = 0;
            while (clock.Elapsed < limit)
            {
                await using var db = await contexts.CreateDbContextAsync();
                provisioned = await db.Applications.CountAsync(a => a.State == ApplicationState.Provisioned);
                failed = await db.Applications.CountAsync(a => a.State == ApplicationState.ProvisioningFailed);
                if (provisioned == names.Count)
                {
                    break;
                }
                await Task.Delay(50);
            }
            var total = clock.Elapsed;
            Console.WriteLine($"portal: {names.Count} approved in {approved.TotalSeconds:F2} s; {provisioned} provisioned, {failed} failed (retrying) after {total.TotalSeconds:F2} s");
            return total;
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>The test directory as <c>scripts/services env test</c> describes it, driven through OpenLDAP's own tools.</summary>
    private sealed record LdapSettings(string Uri, string BaseDn, string ServiceDn, string ServicePassword, string CaCertificate)
    {
        public static LdapSettings FromEnvironment()
        {
            static string Get(string name) => Environment.GetEnvironmentVariable(name)
                ?? throw new InvalidOperationException($"Run through scripts/bench ({name} is not set).");
            var caDirectory = Get("Ldap__TrustedCertificatesDirectory");
            return new LdapSettings($"ldap://{Get("Ldap__Host")}:{Get("Ldap__Port")}", Get("Ldap__BaseDn"), Get("Ldap__ServiceDn"),
                Get("Ldap__ServicePassword"), Path.Combine(caDirectory, "ca.crt"));
        }

        private string People => $"ou=people,{BaseDn}";

        private string StudentsGroup => $"cn=students,ou=groups,{BaseDn}";

        /// <summary>What provisioning writes for one person: the entry with its password and <c>pwdReset</c>, and the group membership.</summary>
        public string PersonLdif(string uid, int uidNumber) => $"""
            dn: uid={uid},{People}
            changetype: add
            objectClass: inetOrgPerson
            objectClass: posixAccount
            objectClass: shadowAccount
            uid: {uid}
            cn: Bench Person
            sn: Person
            displayName: Bench Person
            mail: {uid}@keio.jp
            employeeNumber: B0000001
            uidNumber: {uidNumber}
            gidNumber: 10000
            homeDirectory: /home/{uid}
            loginShell: /bin/bash
            userPassword: {Convert.ToHexString(Guid.NewGuid().ToByteArray())}
            pwdReset: TRUE

            dn: {StudentsGroup}
            changetype: modify
            add: memberUid
            memberUid: {uid}


            """;

        /// <summary>Runs one <c>ldapmodify</c> (one connection, StartTLS required) over the LDIF; its wall time.</summary>
        public async Task<TimeSpan> ModifyAsync(string ldif, bool continueOnError = false)
        {
            var file = Path.GetTempFileName();
            try
            {
                await File.WriteAllTextAsync(file, ldif);
                var clock = Stopwatch.StartNew();
                var (exitCode, _, error) = await RunToolAsync("ldapmodify", ["-f", file, .. continueOnError ? (string[])["-c"] : []]);
                var elapsed = clock.Elapsed;
                if (exitCode != 0 && !continueOnError)
                {
                    throw new InvalidOperationException($"ldapmodify exited with {exitCode}: {error}");
                }
                return elapsed;
            }
            finally
            {
                File.Delete(file);
            }
        }

        /// <summary>How many of <paramref name="uids"/> have an entry: one <c>ldapsearch</c> per 200.</summary>
        public async Task<int> CountPeopleAsync(IReadOnlyList<string> uids)
        {
            var found = 0;
            foreach (var chunk in uids.Chunk(200))
            {
                var filter = $"(|{string.Concat(chunk.Select(u => $"(uid={u})"))})";
                var (_, output, _) = await RunToolAsync("ldapsearch", ["-LLL", "-b", People, filter, "1.1"]);
                found += output.Split('\n').Count(l => l.StartsWith("dn: ", StringComparison.Ordinal));
            }
            return found;
        }

        /// <summary>
        /// One of OpenLDAP's tools as the service account over StartTLS with the test CA. The password goes to the tool
        /// in a file of mode 0600, never on its command line.
        /// </summary>
        private async Task<(int ExitCode, string Output, string Error)> RunToolAsync(string tool, IEnumerable<string> arguments)
        {
            var passwordFile = Path.GetTempFileName();
            try
            {
                File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                await File.WriteAllTextAsync(passwordFile, ServicePassword);
                var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var argument in (string[])["-x", "-ZZ", "-H", Uri, "-D", ServiceDn, "-y", passwordFile, .. arguments])
                {
                    start.ArgumentList.Add(argument);
                }
                start.Environment["LDAPTLS_CACERT"] = CaCertificate;
                using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start.");
                var output = process.StandardOutput.ReadToEndAsync();
                var error = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                return (process.ExitCode, await output, await error);
            }
            finally
            {
                File.Delete(passwordFile);
            }
        }

        /// <summary>Deletes the entries and group memberships of <paramref name="uids"/>; what does not exist is skipped.</summary>
        public async Task DeletePeopleAsync(IReadOnlyList<string> uids)
        {
            var ldif = new StringBuilder();
            foreach (var uid in uids)
            {
                ldif.Append($"dn: uid={uid},{People}\nchangetype: delete\n\ndn: {StudentsGroup}\nchangetype: modify\ndelete: memberUid\nmemberUid: {uid}\n\n");
            }
            await ModifyAsync(ldif.ToString(), continueOnError: true);
        }
    }
}
