using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Domain.Servers;

namespace Portal.Tests.Domain;

public sealed class CudaToolkitTests
{
    private static readonly CudaToolkit Cuda124 = CudaToolkit.Define("12.4", "550.54.14",
        new Dictionary<string, string> { ["local"] = "/usr/local/cuda-12.4", ["docker"] = "portal-cuda:12.4" });

    [Theory]
    [InlineData("550.90.07", "550.54.14", 1)]
    [InlineData("550.54.14", "550.54.14", 0)]
    [InlineData("535.104.05", "550.54.14", -1)]
    [InlineData("550.100", "550.54.14", 1)]
    [InlineData("1000.1", "999.99.99", 1)]
    public void CompareDriver_DottedVersions_NumericOrder(string a, string b, int sign)
    {
        Assert.Equal(sign, Math.Sign(CudaToolkit.CompareDriver(a, b)));
    }

    [Fact]
    public void RefusalFor_DriverAndBackend_ExplainsWhy()
    {
        Assert.Null(Cuda124.RefusalFor("local", "550.90.07"));
        Assert.Null(Cuda124.RefusalFor("local", null));
        Assert.Equal(ToolkitRefusal.DriverTooOld, Cuda124.RefusalFor("local", "535.104.05"));
        Assert.Equal(ToolkitRefusal.NotOfferedByBackend, Cuda124.RefusalFor("slurm", "550.90.07"));
    }

    [Theory]
    [InlineData("12")]
    [InlineData("12.4.1")]
    [InlineData("12.4; rm -rf /")]
    [InlineData("../../etc")]
    [InlineData("")]
    public void Define_NotAVersion_Refused(string version)
    {
        Assert.False(CudaToolkit.IsVersion(version));
        Assert.Throws<InvalidValueException>(() => CudaToolkit.Define(version, "550.54.14", new Dictionary<string, string>()));
    }

    [Fact]
    public void SwitchToolkit_Running_StopsToRestartWithTheNewToolkit()
    {
        var now = DateTimeOffset.UtcNow;
        var server = UserServer.Create(Username.Parse("alice"), "local", now);
        server.RequestStart("local", "12.4", Guid.NewGuid(), now);
        server.MarkRunning(new Uri("http://127.0.0.1:1/"), now);

        server.SwitchToolkit("11.8", now);

        Assert.Equal(ServerState.StopPending, server.Observed);
        Assert.True(server.RestartAfterStop);
        Assert.Equal("11.8", server.CudaToolkit);
        server.MarkStopped(null, now);
        server.Restart(Guid.NewGuid(), now);
        Assert.Equal(ServerState.StartPending, server.Observed);
        Assert.Equal(DesiredServerState.Running, server.Desired);
        Assert.False(server.RestartAfterStop);
    }

    [Fact]
    public void SwitchToolkit_StoppedOrPending_RememberedOrRefused()
    {
        var now = DateTimeOffset.UtcNow;
        var server = UserServer.Create(Username.Parse("alice"), "local", now);

        server.SwitchToolkit("11.8", now);
        Assert.Equal(("11.8", ServerState.Stopped, false), (server.CudaToolkit, server.Observed, server.RestartAfterStop));

        server.RequestStart("local", server.CudaToolkit, Guid.NewGuid(), now);
        Assert.Throws<InvalidTransitionException>(() => server.SwitchToolkit("12.4", now));
        Assert.Throws<InvalidTransitionException>(() => server.Restart(Guid.NewGuid(), now));
    }
}
