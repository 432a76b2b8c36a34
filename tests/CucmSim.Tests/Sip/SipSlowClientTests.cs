using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sip;

/// <summary>
/// SIP over TCP against a slow client (slowloris): a header trickled a byte at a time must not hold its connection
/// past the idle timeout, while a client that sends whole messages keeps its connection and is answered throughout.
/// </summary>
public sealed class SipSlowClientTests
{
    private const int IdleSeconds = 2;

    private static readonly IPEndPoint Local = new(IPAddress.Loopback, 5999);

    [Fact]
    public async Task A_header_trickled_a_byte_at_a_time_is_cut_at_the_idle_timeout_while_whole_messages_are_answered()
    {
        var child = CucmSimProcess.Start("serve", "--only", "t6.sip", "--bind", "127.0.0.1", "--ephemeral-ports", "--idle-timeout", IdleSeconds.ToString(CultureInfo.InvariantCulture),
            "--control", "127.0.0.1:0", "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await using var _ = child;
        await child.ReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{child.Control}") };
        var target = new IPEndPoint(IPAddress.Loopback, (await ListenerAsync(http)).BoundPort!.Value);
        var malformedBefore = (await ListenerAsync(http)).Malformed;

        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var polite = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await slow.ConnectAsync(target).DefaultTimeout();
        await polite.ConnectAsync(target).DefaultTimeout();
        var closedByServer = slow.ReceiveAsync(new byte[16], SocketFlags.None);

        // One byte every 250 ms: before the fix every byte re-armed the idle timer and the 300-byte header took 75 s.
        var header = Options(target, "trickle");
        var started = Stopwatch.GetTimestamp();
        var sent = 0;
        var answered = 0;
        while (!closedByServer.IsCompleted && sent < header.Length - 4 && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(20))
        {
            try
            {
                await slow.SendAsync(header.AsMemory(sent, 1)).AsTask().DefaultTimeout();
            }
            catch (SocketException)
            {
                break;
            }

            sent++;
            // The polite client sends a whole OPTIONS every 500 ms and is answered on its one connection, across the
            // idle timeout.
            if (sent % 2 == 0)
            {
                await polite.SendAsync(Options(target, $"polite-{sent}")).DefaultTimeout();
                answered += await ReadAnswerAsync(polite).DefaultTimeout();
            }

            await Task.WhenAny(closedByServer, Task.Delay(250));
        }

        var n = await closedByServer.DefaultTimeout();
        var elapsed = Stopwatch.GetElapsedTime(started);
        Assert.Equal(0, n);
        Assert.True(elapsed >= TimeSpan.FromSeconds(IdleSeconds - 0.5) && elapsed < TimeSpan.FromSeconds(IdleSeconds + 4), $"closed after {elapsed.TotalSeconds:F1} s");
        Assert.True(sent < header.Length - 4, "the whole header went through before the server closed");
        Assert.True(answered >= 2, $"{answered} polite answers");

        // The polite connection is still open after the slow one was cut, and the cut is counted.
        await polite.SendAsync(Options(target, "polite-last")).DefaultTimeout();
        Assert.Equal(1, await ReadAnswerAsync(polite).DefaultTimeout());
        Assert.Equal(malformedBefore + 1, (await ListenerAsync(http)).Malformed);
    }

    private static byte[] Options(IPEndPoint target, string id) =>
        Encoding.ASCII.GetBytes(SipTestSupport.Request("OPTIONS", target, Local, "z9hG4bK-slow-" + id, "slow-" + id, 1));

    private static async Task<ListenerView> ListenerAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<ListenerView[]>("/api/listeners").DefaultTimeout())!.Single(l => l.Id == "tcp/5060");

    /// <summary>Reads one whole response (up to its empty line; OPTIONS answers carry no body here) and returns 1 for a 200.</summary>
    private static async Task<int> ReadAnswerAsync(Socket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (received.Count < 64 * 1024)
        {
            var n = await socket.ReceiveAsync(buffer);
            if (n == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, n).ToArray());
            var text = Encoding.ASCII.GetString(received.ToArray());
            if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                return text.StartsWith("SIP/2.0 200 ", StringComparison.Ordinal) ? 1 : 0;
            }
        }

        return 0;
    }
}
