using Microsoft.EntityFrameworkCore;
using Portal.Domain.Accounts;
using Portal.Infrastructure.Admin.Users;
using Portal.Tests.Support;

namespace Portal.Tests.Admin;

/// <summary>Quota edits the service refuses with a reason (the test inventory has two "Test GPU"s).</summary>
public sealed class QuotaLimitsTests : MigratedDatabaseTest
{
    private UserAdminServices _services = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _services = new UserAdminServices(Database);
    }

    public override async Task DisposeAsync()
    {
        _services.Dispose();
        await base.DisposeAsync();
    }

    private async Task<(Username User, QuotaSaveResult Result)> SaveAsync(QuotaEdit edit)
    {
        var user = await _services.SignedInPersonAsync("Quota-password-1");
        return (user, await _services.Admin.SaveQuotaAsync(user, edit, null, UserAdminServices.AdminActor, CancellationToken.None));
    }

    private async Task AssertNothingSavedAsync(Username user)
    {
        await using var db = Database.CreateDbContext();
        Assert.False(await db.QuotaOverrides.AnyAsync(q => q.Username == user));
        Assert.False(await db.AuditEvents.AnyAsync(e => e.Action == "admin.user.quota"));
    }

    [Fact]
    public async Task SaveQuota_MoreGpusThanTheInventoryHas_RefusedNamingTheLargestAndNothingSaved()
    {
        var (user, result) = await SaveAsync(new QuotaEdit(null, null, null, null, 3, null));

        var invalid = Assert.IsType<QuotaSaveResult.Invalid>(result);
        Assert.Equal((QuotaRefusal.GpuCountTooLarge, 2), (invalid.Reason, invalid.Largest));
        await AssertNothingSavedAsync(user);
    }

    [Fact]
    public async Task SaveQuota_GpuModelNoNodeHas_RefusedAndNothingSaved()
    {
        var (user, result) = await SaveAsync(new QuotaEdit(null, null, null, null, 1, "H100"));

        var invalid = Assert.IsType<QuotaSaveResult.Invalid>(result);
        Assert.Equal((QuotaRefusal.UnknownGpuModel, "H100"), (invalid.Reason, invalid.Detail));
        await AssertNothingSavedAsync(user);
    }

    [Fact]
    public async Task SaveQuota_NegativeMemory_RefusedAsSuchAndNothingSaved()
    {
        var (user, result) = await SaveAsync(new QuotaEdit(null, null, -5, null, null, null));

        Assert.Equal(QuotaRefusal.MemoryNotPositive, Assert.IsType<QuotaSaveResult.Invalid>(result).Reason);
        await AssertNothingSavedAsync(user);
    }

    [Fact]
    public async Task SaveQuota_AllGpusOfTheInventory_Saved()
    {
        var (user, result) = await SaveAsync(new QuotaEdit(null, null, null, null, 2, "test gpu"));

        Assert.IsType<QuotaSaveResult.Saved>(result);
        Assert.Equal(2, (await _services.Servers.Quotas.ForAsync(user, CancellationToken.None)).Limits.GpuCount);
    }
}
