namespace Portal.Tests.Support;

/// <summary>Waits for a condition with a deadline, looking again every 100 ms; never a fixed sleep standing in for it.</summary>
public static class Eventually
{
    /// <summary>Fails with <paramref name="describe"/>'s text (what was seen last) when the deadline passes first.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<Task<string>> describe)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"Not within {timeout.TotalSeconds:F0} s: {await describe()}");
            }
            await Task.Delay(100);
        }
    }
}
