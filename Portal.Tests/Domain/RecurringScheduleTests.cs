using Portal.Infrastructure.Jobs;

namespace Portal.Tests.Domain;

/// <summary>The intervals of configuration as cron expressions Hangfire reads (six fields: seconds first).</summary>
public sealed class RecurringScheduleTests
{
    [Theory]
    [InlineData(5, "*/5 * * * * *")]
    [InlineData(30, "*/30 * * * * *")]
    [InlineData(7, "*/6 * * * * *")]      // rounded down to a divisor of a minute: never less often than asked
    [InlineData(0.2, "*/1 * * * * *")]
    [InlineData(60, "0 */1 * * * *")]
    [InlineData(90, "0 */1 * * * *")]     // a minute and a half: every minute, not every two
    [InlineData(600, "0 */10 * * * *")]
    [InlineData(3600, "0 0 */1 * * *")]
    [InlineData(5400, "0 0 */1 * * *")]   // an hour and a half: every hour
    [InlineData(7200, "0 0 */2 * * *")]
    [InlineData(5 * 3600, "0 0 */4 * * *")]
    [InlineData(86400, "0 0 0 * * *")]
    public void CronEvery_Interval_FiresAtLeastThatOften(double seconds, string expected) =>
        Assert.Equal(expected, RecurringJobs.CronEvery(TimeSpan.FromSeconds(seconds)));
}
