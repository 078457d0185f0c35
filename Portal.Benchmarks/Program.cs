using System.Globalization;
using Portal.Benchmarks;

// scripts/bench runs this with the test services' settings in the environment.
return args switch
{
    ["hub-starts", ..] => await HubStartBenchmark.RunAsync(
        args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200, TimeSpan.FromMinutes(15)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: scripts/bench hub-starts [users=200]");
    return 2;
}
