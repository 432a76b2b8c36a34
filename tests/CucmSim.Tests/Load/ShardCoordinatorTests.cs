using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;
using Xunit;

namespace CucmSim.Tests.Load;

/// <summary>Shard 0's coordinator and the shards' client over loopback sockets: ready, start, snapshots, reports, refusals, bad input.</summary>
public sealed class ShardCoordinatorTests
{
    private const string Plan = "0123456789abcdef";

    private readonly ConcurrentQueue<string> _log = new();

    private ShardCoordinator Coordinator(int count, TimeSpan? hello = null, Action<int, ShardMessage>? snapshot = null)
    {
        var c = new ShardCoordinator(new IPEndPoint(IPAddress.Loopback, 0), count, Plan, _log.Enqueue)
        {
            HelloTimeout = hello ?? TimeSpan.FromSeconds(10),
            StartMargin = TimeSpan.FromMilliseconds(500),
            SnapshotArrived = snapshot,
        };
        c.Start();
        return c;
    }

    private Task<ShardClient> Join(ShardCoordinator c, int index, int count, string plan = Plan) =>
        ShardClient.ConnectAsync("127.0.0.1", c.LocalEndPoint.Port, new ShardSpec(index, count), plan, TimeSpan.FromSeconds(5), _log.Enqueue, CancellationToken.None);

    [Fact]
    public async Task Every_shard_gets_the_same_absolute_start_once_all_are_ready()
    {
        await using var c = Coordinator(4);
        var before = DateTimeOffset.UtcNow;
        var clients = new List<ShardClient>();
        try
        {
            for (var i = 1; i < 4; i++)
            {
                clients.Add(await Join(c, i, 4).DefaultTimeout());
            }

            var start = await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
            Assert.Empty(c.Missing());
            Assert.True(start >= before + TimeSpan.FromMilliseconds(500), $"start {start:O} is not after the margin from {before:O}");
            foreach (var client in clients)
            {
                Assert.Equal(start, await client.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout());
            }

            Assert.Equal(0, c.Refusals);
            Assert.Equal(0, c.BadInput);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_shard_with_another_plan_is_refused_with_both_hashes_and_stays_missing()
    {
        await using var c = Coordinator(2);
        await using var client = await Join(c, 1, 2, plan: "ffffffffffffffff").DefaultTimeout();
        var refused = await Assert.ThrowsAsync<ShardException>(() => client.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None)).DefaultTimeout();
        Assert.Contains("another plan", refused.Message, StringComparison.Ordinal);
        Assert.Contains("ffffffffffffffff", refused.Message, StringComparison.Ordinal);
        Assert.Contains(Plan, refused.Message, StringComparison.Ordinal);
        Assert.True(client.Aborted.IsCancellationRequested);
        Assert.Equal(1, c.Refusals);
        Assert.Equal([1], c.Missing());
    }

    [Theory]
    [InlineData(1, 3, "of 3 shards; this run has 2")]
    [InlineData(0, 2, "shard 0 is this coordinator")]
    public async Task A_shard_of_another_count_or_index_zero_is_refused(int index, int count, string reason)
    {
        await using var c = Coordinator(2);
        await using var client = await Join(c, index, count).DefaultTimeout();
        var refused = await Assert.ThrowsAsync<ShardException>(() => client.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None)).DefaultTimeout();
        Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, c.Refusals);
    }

    [Fact]
    public async Task A_second_process_with_the_same_index_is_refused_and_one_after_the_start_too()
    {
        await using var c = Coordinator(2);
        await using var first = await Join(c, 1, 2).DefaultTimeout();
        await using var twin = await Join(c, 1, 2).DefaultTimeout();
        var refused = await Assert.ThrowsAsync<ShardException>(() => twin.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None)).DefaultTimeout();
        Assert.Contains("already connected", refused.Message, StringComparison.Ordinal);

        await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await first.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await using var late = await Join(c, 1, 2).DefaultTimeout();
        var tooLate = await Assert.ThrowsAsync<ShardException>(() => late.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None)).DefaultTimeout();
        Assert.Contains("came too late", tooLate.Message, StringComparison.Ordinal);
        Assert.Equal(2, c.Refusals);
    }

    [Fact]
    public async Task A_shard_that_never_comes_is_named_after_the_timeout_and_the_others_are_told()
    {
        await using var c = Coordinator(4);
        await using var one = await Join(c, 1, 4).DefaultTimeout();
        await using var three = await Join(c, 3, 4).DefaultTimeout();
        var missing = await Assert.ThrowsAsync<ShardException>(() => c.WaitForShardsAsync(TimeSpan.FromSeconds(1), CancellationToken.None)).DefaultTimeout();
        Assert.Equal("shard 2 did not report ready within 1 s", missing.Message);
        foreach (var client in new[] { one, three })
        {
            var told = await Assert.ThrowsAsync<ShardException>(() => client.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None)).DefaultTimeout();
            Assert.Contains("called the run off", told.Message, StringComparison.Ordinal);
            Assert.Contains("shard 2 did not report ready", told.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_shard_that_leaves_before_the_start_is_missing_again_and_may_come_back()
    {
        await using var c = Coordinator(2);
        var gone = await Join(c, 1, 2).DefaultTimeout();
        await gone.DisposeAsync();
        await using var back = await Join(c, 1, 2).DefaultTimeout();
        var start = await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        Assert.Equal(start, await back.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout());
    }

    [Fact]
    public async Task The_shard_gives_up_connecting_after_its_timeout_and_names_the_coordinator()
    {
        // A port nobody listens on: bound, never listening.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port;
        var error = await Assert.ThrowsAsync<ShardException>(() =>
            ShardClient.ConnectAsync("127.0.0.1", port, new ShardSpec(1, 2), Plan, TimeSpan.FromSeconds(1.5), _log.Enqueue, CancellationToken.None)).DefaultTimeout();
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("did not answer within 1.5 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshots_arrive_for_the_live_view_and_reports_are_taken_in_shard_order()
    {
        var snapshots = new ConcurrentDictionary<int, TaskCompletionSource<ShardMessage>>();
        for (var i = 1; i < 3; i++)
        {
            snapshots[i] = new TaskCompletionSource<ShardMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        await using var c = Coordinator(3, snapshot: (i, m) => snapshots[i].TrySetResult(m));
        await using var one = await Join(c, 1, 3).DefaultTimeout();
        await using var two = await Join(c, 2, 3).DefaultTimeout();
        await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await one.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await two.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();

        one.PushSnapshot(new ShardSpec(1, 3), new LoadInterval { StartMs = 1000, LengthMs = 1000, ConcurrentCalls = 7 }, new LoadCounters { CallsAttempted = 11 });
        two.PushSnapshot(new ShardSpec(2, 3), new LoadInterval { StartMs = 1000, LengthMs = 1000, ConcurrentCalls = 5 }, new LoadCounters { CallsAttempted = 13 });
        Assert.Equal(11, (await snapshots[1].Task.DefaultTimeout()).Totals!.CallsAttempted);
        Assert.Equal(5, (await snapshots[2].Task.DefaultTimeout()).Interval!.ConcurrentCalls);
        Assert.Equal(24, c.Latest().Values.Sum(m => m.Totals!.CallsAttempted));

        // Shard 2 reports first; the reports come back in shard order.
        await two.SendReportAsync(new ShardSpec(2, 3), new LoadReport { Shard = "2/3", Counters = new LoadCounters { CallsAttempted = 20 } }, TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await one.SendReportAsync(new ShardSpec(1, 3), new LoadReport { Shard = "1/3", Counters = new LoadCounters { CallsAttempted = 10 } }, TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        var reports = await c.WaitForReportsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        Assert.Equal(["1/3", "2/3"], reports.Select(r => r.Shard));
        Assert.Equal([10L, 20L], reports.Select(r => r.Counters.CallsAttempted));
    }

    [Fact]
    public async Task A_shard_that_leaves_without_a_report_is_named_and_the_others_reports_are_kept()
    {
        await using var c = Coordinator(3);
        await using var one = await Join(c, 1, 3).DefaultTimeout();
        var two = await Join(c, 2, 3).DefaultTimeout();
        await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await one.WaitForStartAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        await two.DisposeAsync();
        await one.SendReportAsync(new ShardSpec(1, 3), new LoadReport { Shard = "1/3" }, TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        var error = await Assert.ThrowsAsync<ShardException>(() => c.WaitForReportsAsync(TimeSpan.FromSeconds(1), CancellationToken.None)).DefaultTimeout();
        Assert.Equal("shard 2 sent no report within 1 s", error.Message);
        Assert.Equal("1/3", Assert.Single(error.Partial).Shard);
    }

    public static TheoryData<string, byte[]> BadHellos() => new()
    {
        { "a frame of -1 bytes", [0xff, 0xff, 0xff, 0xff] },
        { "a frame of 1048576 bytes (at most 65536)", [0x00, 0x10, 0x00, 0x00] },
        { "not a message", Frame("{\"type\": ") },
        { "a message without a type", Frame("{\"shard\": \"1/2\"}") },
        { "'snapshot' before ready", Frame("{\"type\": \"snapshot\"}") },
        { "not a message", Frame("[1, 2, 3]") },
    };

    [Theory]
    [MemberData(nameof(BadHellos))]
    public async Task Bad_input_is_answered_with_an_error_counted_logged_and_closed(string reason, byte[] bytes)
    {
        await using var c = Coordinator(2);
        using var raw = new TcpClient();
        await raw.ConnectAsync(c.LocalEndPoint).DefaultTimeout();
        var stream = raw.GetStream();
        await stream.WriteAsync(bytes).AsTask().DefaultTimeout();
        var answer = await ShardFrames.ReadAsync(stream, ShardFrames.MaxHello, CancellationToken.None).DefaultTimeout();
        Assert.Equal(ShardMessage.Error, answer!.Type);
        Assert.Contains(reason, answer.Reason, StringComparison.Ordinal);
        Assert.Null(await ShardFrames.ReadAsync(stream, ShardFrames.MaxHello, CancellationToken.None).DefaultTimeout());
        Assert.Equal(1, c.BadInput);
        Assert.Contains(_log, l => l.Contains(reason, StringComparison.Ordinal));

        // The coordinator still serves: a real shard is admitted after the bad one.
        await using var good = await Join(c, 1, 2).DefaultTimeout();
        await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
    }

    [Fact]
    public async Task A_connection_that_says_nothing_is_closed_after_the_hello_timeout()
    {
        await using var c = Coordinator(2, hello: TimeSpan.FromMilliseconds(300));
        using var raw = new TcpClient();
        await raw.ConnectAsync(c.LocalEndPoint).DefaultTimeout();
        var answer = await ShardFrames.ReadAsync(raw.GetStream(), ShardFrames.MaxHello, CancellationToken.None).DefaultTimeout();
        Assert.Equal("no ready within 0.3 s", answer!.Reason);
        Assert.Equal(1, c.BadInput);
    }

    [Fact]
    public async Task A_message_out_of_place_after_ready_is_answered_and_the_shard_stays()
    {
        await using var c = Coordinator(2);
        using var raw = new TcpClient();
        await raw.ConnectAsync(c.LocalEndPoint).DefaultTimeout();
        var stream = raw.GetStream();
        await ShardFrames.WriteAsync(stream, new ShardMessage { Type = ShardMessage.Ready, Shard = "1/2", PlanHash = Plan }, CancellationToken.None).DefaultTimeout();
        await c.WaitForShardsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout();
        Assert.Equal(ShardMessage.Start, (await ShardFrames.ReadAsync(stream, ShardFrames.MaxHello, CancellationToken.None).DefaultTimeout())!.Type);
        await ShardFrames.WriteAsync(stream, new ShardMessage { Type = "hello" }, CancellationToken.None).DefaultTimeout();
        var answer = await ShardFrames.ReadAsync(stream, ShardFrames.MaxHello, CancellationToken.None).DefaultTimeout();
        Assert.Equal(ShardMessage.Error, answer!.Type);
        Assert.Equal(1, c.BadInput);
        await ShardFrames.WriteAsync(stream, new ShardMessage { Type = ShardMessage.Report, Shard = "1/2", Result = new LoadReport { Shard = "1/2" } }, CancellationToken.None).DefaultTimeout();
        Assert.Equal(ShardMessage.Done, (await ShardFrames.ReadAsync(stream, ShardFrames.MaxHello, CancellationToken.None).DefaultTimeout())!.Type);
        Assert.Single(await c.WaitForReportsAsync(TimeSpan.FromSeconds(10), CancellationToken.None).DefaultTimeout());
    }

    private static byte[] Frame(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }
}
