using Portal.Domain.Accounts;
using Portal.Domain.Common;

namespace Portal.Domain.Servers;

/// <summary>A named set of limits; one plan is the default for everybody.</summary>
public sealed class ResourcePlan
{
    private ResourcePlan(string name, decimal cpuCores, int memoryGiB, int storageGiB, int gpuCount, string? gpuModel, bool isDefault)
    {
        Name = name;
        CpuCores = cpuCores;
        MemoryGiB = memoryGiB;
        StorageGiB = storageGiB;
        GpuCount = gpuCount;
        GpuModel = gpuModel;
        IsDefault = isDefault;
    }

    public string Name { get; private set; }
    public decimal CpuCores { get; private set; }
    public int MemoryGiB { get; private set; }
    public int StorageGiB { get; private set; }
    public int GpuCount { get; private set; }
    public string? GpuModel { get; private set; }
    public bool IsDefault { get; private set; }

    public static ResourcePlan Define(string name, decimal cpuCores, int memoryGiB, int storageGiB, int gpuCount, string? gpuModel, bool isDefault)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 32)
        {
            throw new InvalidValueException(nameof(Name), "A plan name has 1 to 32 characters.");
        }
        if (cpuCores <= 0 || memoryGiB <= 0 || storageGiB <= 0 || gpuCount < 0)
        {
            throw new InvalidValueException(nameof(CpuCores), "CPU, memory and storage are positive; the GPU count is not negative.");
        }
        return new ResourcePlan(name, cpuCores, memoryGiB, storageGiB, gpuCount, gpuModel, isDefault);
    }

    public ResourceLimits Limits => new(CpuCores, MemoryGiB, StorageGiB, GpuCount, GpuModel);
}

/// <summary>Per-user changes to the plan: another plan, and/or single limits that replace the plan's.</summary>
public sealed class QuotaOverride
{
    private QuotaOverride(Username username)
    {
        Username = username;
    }

    public Username Username { get; private set; }
    public string? PlanName { get; private set; }
    public decimal? CpuCores { get; private set; }
    public int? MemoryGiB { get; private set; }
    public int? StorageGiB { get; private set; }
    public int? GpuCount { get; private set; }
    public string? GpuModel { get; private set; }

    /// <summary>Bumped by every change; an edit made from an older version is refused (optimistic concurrency).</summary>
    public int Version { get; private set; } = 1;

    /// <summary>Replaces the plan and the single limits (null: the plan's value); the version moves on.</summary>
    public void Change(string? planName, decimal? cpuCores, int? memoryGiB, int? storageGiB, int? gpuCount, string? gpuModel)
    {
        var valid = For(Username, planName, cpuCores, memoryGiB, storageGiB, gpuCount, gpuModel);
        PlanName = valid.PlanName;
        CpuCores = valid.CpuCores;
        MemoryGiB = valid.MemoryGiB;
        StorageGiB = valid.StorageGiB;
        GpuCount = valid.GpuCount;
        GpuModel = valid.GpuModel;
        Version++;
    }

    public static QuotaOverride For(Username username, string? planName, decimal? cpuCores, int? memoryGiB, int? storageGiB, int? gpuCount, string? gpuModel)
    {
        if (cpuCores <= 0 || memoryGiB <= 0 || storageGiB <= 0 || gpuCount < 0)
        {
            throw new InvalidValueException(nameof(CpuCores), "Overrides are positive (the GPU count may be zero).");
        }
        return new QuotaOverride(username)
        {
            PlanName = planName,
            CpuCores = cpuCores,
            MemoryGiB = memoryGiB,
            StorageGiB = storageGiB,
            GpuCount = gpuCount,
            GpuModel = gpuModel,
        };
    }

    /// <summary>The limits in force: the plan's, with each overridden value replacing the plan's one.</summary>
    public static ResourceLimits Effective(ResourcePlan plan, QuotaOverride? overrides) => overrides is null
        ? plan.Limits
        : new ResourceLimits(overrides.CpuCores ?? plan.CpuCores, overrides.MemoryGiB ?? plan.MemoryGiB, overrides.StorageGiB ?? plan.StorageGiB,
            overrides.GpuCount ?? plan.GpuCount, overrides.GpuModel ?? plan.GpuModel);
}
