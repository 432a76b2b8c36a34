using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HdrHistogram;

// Load clients for the benchmarks in loadtests/. Every loop is bounded in time; targets must be loopback.
//   cucmsim-bench echo-tcp --target 127.0.0.1:2000 [--connections 32] [--duration 10]
// Each connection sends "CUCMSIM-PROBE <n>\n" and waits for one line back (any line echo server answers:
// cucmsim's listeners and a plain echo peer alike), then sends the next: closed-loop round trips.
// Prints one line: RESULT workload=echo-tcp rate=<round trips/s> p50_us= p99_us= errors=
if (args.Length == 0 || args[0] != "echo-tcp")
{
    Console.Error.WriteLine("usage: cucmsim-bench echo-tcp --target HOST:PORT [--connections N] [--duration S]");
    return 2;
}

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

var target = IPEndPoint.Parse(Arg("--target", "127.0.0.1:2000"));
if (!IPAddress.IsLoopback(target.Address))
{
    Console.Error.WriteLine($"target {target} is not loopback");
    return 2;
}

var connections = int.Parse(Arg("--connections", "32"), CultureInfo.InvariantCulture);
var duration = TimeSpan.FromSeconds(double.Parse(Arg("--duration", "10"), CultureInfo.InvariantCulture));
var histogram = new LongHistogram(TimeStamp.Seconds(10), 3);
var errors = 0L;
var total = 0L;
using var stop = new CancellationTokenSource(duration);
var clock = Stopwatch.StartNew();

async Task RunAsync(int id)
{
    var local = new LongHistogram(TimeStamp.Seconds(10), 3);
    using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    await socket.ConnectAsync(target);
    var request = System.Text.Encoding.ASCII.GetBytes($"CUCMSIM-PROBE bench-{id}\n");
    var buffer = new byte[512];
    long count = 0;
    try
    {
        while (!stop.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            await socket.SendAsync(request, SocketFlags.None, stop.Token);
            var got = 0;
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, stop.Token);
                if (n == 0)
                {
                    Interlocked.Increment(ref errors);
                    return;
                }

                got += n;
                if (Array.IndexOf(buffer, (byte)'\n', 0, got) >= 0)
                {
                    break;
                }
            }

            local.RecordValue(Stopwatch.GetTimestamp() - start);
            count++;
        }
    }
    catch (OperationCanceledException)
    {
    }
    catch (SocketException)
    {
        Interlocked.Increment(ref errors);
    }

    lock (histogram)
    {
        histogram.Add(local);
    }

    Interlocked.Add(ref total, count);
}

await Task.WhenAll(Enumerable.Range(0, connections).Select(RunAsync));
var seconds = clock.Elapsed.TotalSeconds;
double Micros(double percentile) => histogram.GetValueAtPercentile(percentile) * 1_000_000.0 / Stopwatch.Frequency;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"RESULT workload=echo-tcp target={target} connections={connections} rate={total / seconds:0} p50_us={Micros(50):0} p99_us={Micros(99):0} errors={errors}"));
return 0;
