using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Domain.Accounts;
using Portal.Domain.Servers;
using Portal.Infrastructure.Servers;
using Portal.Infrastructure.Servers.Slurm;
using Portal.Tests.Support;

namespace Portal.Tests.Servers;

/// <summary>
/// Switching the CUDA toolkit of a running server through the portal's job, on the Slurm, Docker and LXD backends
/// (local processes and JupyterHub are covered in their own flow tests): the server ends running and its process
/// sees the new toolkit.
/// </summary>
public sealed class ToolkitSwitchTests(DockerFixture docker, LxdFixture lxd) : MigratedDatabaseTest, IClassFixture<DockerFixture>, IClassFixture<LxdFixture>
{
    private readonly string _root = Directory.CreateTempSubdirectory("portal-switch-").FullName;

    private async Task<UserServer> ServerOfAsync(Username user)
    {
        await using var db = Database.CreateDbContext();
        return await db.Servers.AsNoTracking().SingleAsync(s => s.Username == user);
    }

    /// <summary>Starts with 12.4, switches to 11.8, and returns the server's state afterwards; always stops it.</summary>
    private async Task<UserServer> StartAndSwitchAsync(ServerServices services, Username user, Func<Task<IReadOnlyDictionary<string, string>>> processEnvironment)
    {
        try
        {
            Assert.Equal(ServerRequestResult.Requested, await services.Servers.StartAsync(user, "12.4", null, CancellationToken.None));
            var server = await ServerOfAsync(user);
            await services.SettleAsync(server.Id);
            ServerAssert.InState(ServerState.Running, await ServerOfAsync(user));
            Assert.Equal("12.4", (await processEnvironment())["CUDA_VERSION"]);

            Assert.Equal(ServerRequestResult.Requested, await services.Servers.SwitchToolkitAsync(user, "11.8", null, CancellationToken.None));
            await services.SettleAsync(server.Id);

            var switched = await ServerOfAsync(user);
            ServerAssert.InState(ServerState.Running, switched);
            Assert.Equal("11.8", switched.CudaToolkit);
            Assert.Equal("11.8", (await processEnvironment())["CUDA_VERSION"]);
            return switched;
        }
        finally
        {
            await services.Servers.StopAsync(user, user.Value, null, CancellationToken.None);
            await services.SettleAsync((await ServerOfAsync(user)).Id);
            services.Dispose();
        }
    }

    [Fact]
    public async Task SwitchToolkit_RunningOnSlurm_EndsRunningWithTheNewToolkit()
    {
        await using var node = await SlurmFixture.HoldNodeAsync();
        var user = Username.Parse(LdapTestUsers.UniqueUsername("sws"));
        var state = Path.Combine(_root, "slurm-state");
        var services = new ServerServices(Database, backendFactory: () => new SlurmBackend(Options.Create(new SlurmOptions
        {
            ConfPath = SlurmFixture.ConfPath,
            StateDirectory = state,
            HomeRoot = Path.Combine(_root, "slurm-homes"),
            JupyterIp = "127.0.0.1",
            PortRangeStart = SlurmFixture.PortRangeStart,
            PortRangeEnd = SlurmFixture.PortRangeEnd,
            PollIntervalMilliseconds = 100,
        }), TimeProvider.System, NullLogger<SlurmBackend>.Instance));

        var server = await StartAndSwitchAsync(services, user, () =>
        {
            var pid = File.ReadAllLines(Path.Combine(state, $"{user}.endpoint")).Single(l => l.StartsWith("pid=", StringComparison.Ordinal))["pid=".Length..];
            return Task.FromResult(HubFixture.ProcessEnvironment(int.Parse(pid, CultureInfo.InvariantCulture)));
        });

        Assert.Equal("slurm", server.Backend);
    }

    [Fact]
    public async Task SwitchToolkit_RunningOnDocker_EndsRunningWithTheNewToolkitImage()
    {
        var user = Username.Parse(LdapTestUsers.UniqueUsername("swd"));
        var services = new ServerServices(Database, backendFactory: () => docker.Backend());

        var server = await StartAndSwitchAsync(services, user, async () =>
        {
            var id = Assert.Single(await DockerFixture.ContainerIdsOfAsync(user.Value));
            return DockerFixture.Environment((await DockerFixture.InspectAsync(id))!.Value);
        });

        Assert.Equal("docker", server.Backend);
    }

    [Fact]
    public async Task SwitchToolkit_RunningOnLxd_EndsRunningWithTheNewToolkitImage()
    {
        var user = Username.Parse(LdapTestUsers.UniqueUsername("swl"));
        var services = new ServerServices(Database, backendFactory: () => lxd.Backend());

        var server = await StartAndSwitchAsync(services, user, async () =>
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            int? pid;
            while ((pid = await lxd.ServerPidAsync($"portal-{user}")) is null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
            return HubFixture.ProcessEnvironment(pid ?? throw new TimeoutException("The LXD server process did not appear."));
        });

        Assert.Equal("lxd", server.Backend);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A job that just ended may still hold a log file.
        }
    }
}
