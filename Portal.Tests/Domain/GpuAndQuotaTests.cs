using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Domain.Servers;

namespace Portal.Tests.Domain;

public sealed class GpuAndQuotaTests
{
    private static readonly IReadOnlyList<GpuDevice> Node =
    [
        new(0, "GPU-a", "NVIDIA A100", 40960, "550.54"),
        new(1, "GPU-b", "NVIDIA A100", 40960, "550.54"),
        new(2, "GPU-c", "NVIDIA L4", 23034, "550.54"),
    ];

    [Fact]
    public void Pick_FreeGpus_NeverOneAlreadyTaken()
    {
        var taken = new HashSet<int>();
        for (var i = 0; i < 3; i++)
        {
            var picked = GpuAllocator.Pick(Node, taken, 1, null);
            var gpu = Assert.Single(picked!);
            Assert.True(taken.Add(gpu.Index), $"GPU {gpu.Index} handed out twice");
        }
        Assert.Null(GpuAllocator.Pick(Node, taken, 1, null));
    }

    [Fact]
    public void Pick_ModelAndCount_OnlyThatModelOrNothing()
    {
        Assert.Equal([0, 1], GpuAllocator.Pick(Node, new HashSet<int>(), 2, "nvidia a100")!.Select(g => g.Index));
        Assert.Null(GpuAllocator.Pick(Node, new HashSet<int>(), 2, "NVIDIA L4"));
        Assert.Empty(GpuAllocator.Pick(Node, new HashSet<int>([0, 1, 2]), 0, null)!);
    }

    [Fact]
    public void ParseNvidiaSmi_CsvOutput_ReadsEveryDevice()
    {
        const string output = """
            0, GPU-4b6b1e6c-0000-1111-2222-333344445555, NVIDIA H100 80GB HBM3, 81559 MiB, 550.90.07
            1, GPU-5c7c2f7d-0000-1111-2222-333344445555, NVIDIA H100 80GB HBM3, 81559 MiB, 550.90.07
            """;

        var devices = GpuAllocator.ParseNvidiaSmi(output);

        Assert.Equal(2, devices.Count);
        Assert.Equal(new GpuDevice(1, "GPU-5c7c2f7d-0000-1111-2222-333344445555", "NVIDIA H100 80GB HBM3", 81559, "550.90.07"), devices[1]);
        Assert.Throws<FormatException>(() => GpuAllocator.ParseNvidiaSmi("garbage"));
    }

    [Fact]
    public void Effective_Override_ReplacesOnlyGivenLimits()
    {
        var plan = ResourcePlan.Define("standard", 2, 8, 100, 1, null, isDefault: true);
        var overrides = QuotaOverride.For(Username.Parse("alice"), null, null, 32, null, 2, "NVIDIA A100");

        Assert.Equal(new ResourceLimits(2, 8, 100, 1, null), QuotaOverride.Effective(plan, null));
        Assert.Equal(new ResourceLimits(2, 32, 100, 2, "NVIDIA A100"), QuotaOverride.Effective(plan, overrides));
    }

    [Fact]
    public void Define_NonPositiveLimits_Refused()
    {
        Assert.Throws<InvalidValueException>(() => ResourcePlan.Define("x", 0, 8, 100, 1, null, false));
        Assert.Throws<InvalidValueException>(() => QuotaOverride.For(Username.Parse("alice"), null, null, -1, null, null, null));
    }
}
