using System.Globalization;
using Portal.Benchmarks;

// scripts/bench runs this with the test services' settings in the environment.
return args switch
{
    ["hub-starts", ..] => await HubStartBenchmark.RunAsync(
        args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200, TimeSpan.FromMinutes(15)),
    ["admin-queries", .. var rest] => await AdminQueries(rest),
    ["click-to-job", ..] => await ClickToJobBenchmark.RunAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100),
    ["provisioning", ..] => await ProvisioningBenchmark.RunAsync(
        args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300, TimeSpan.FromMinutes(10)),
    _ => Usage(),
};

static async Task<int> AdminQueries(string[] args)
{
    var numbers = new List<int>();
    var iterations = 50;
    var keep = false;
    for (var i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--keep":
                keep = true;
                break;
            case "--iterations" when i + 1 < args.Length:
                iterations = int.Parse(args[++i], CultureInfo.InvariantCulture);
                break;
            case var number when int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n):
                numbers.Add(n);
                break;
            default:
                return Usage();
        }
    }
    if (numbers.Count > 2 || iterations < 1)
    {
        return Usage();
    }
    return await AdminQueriesBenchmark.RunAsync(new AdminQueriesBenchmark.Options(
        numbers.Count > 0 ? numbers[0] : 100_000, numbers.Count > 1 ? numbers[1] : 1_000_000, iterations, keep));
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: scripts/bench hub-starts [users=200]
               scripts/bench provisioning [applications=300]
               scripts/bench click-to-job [clicks=100]
               scripts/bench admin-queries [accounts=100000] [sessions=1000000] [--iterations N=50] [--keep]
        """);
    return 2;
}
