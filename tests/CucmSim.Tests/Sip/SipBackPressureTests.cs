using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sip;

/// <summary>
/// The real executable, with handlers inline on its socket threads (the default: one thread per two cores) and on the
/// thread pool: a client that pipelines requests and reads no answer must stall only itself, and get every answer once
/// it reads.
/// </summary>
public sealed class SipBackPressureTests
{
    private const int Pipelined = 60_000;

    private static byte[] Options(int i) => Encoding.ASCII.GetBytes(
        $"OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-bp-{i}\r\nMax-Forwards: 70\r\n" +
        $"From: <sip:bp@127.0.0.1>;tag=bp{i}\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: bp-{i}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");

    [Theory]
    [InlineData("inline")]
    [InlineData("pool")]
    public async Task A_client_that_does_not_read_stalls_only_itself(string io)
    {
        var child = CucmSimProcess.Start("serve", "--io", io, "--only", "t6.sip", "--bind", "127.0.0.1", "--ephemeral-ports",
            "--control", "127.0.0.1:0", "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await using var _ = child;
        await child.ReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{child.Control}") };
        var listeners = await http.GetFromJsonAsync<ListenerView[]>("/api/listeners").DefaultTimeout();
        var target = new IPEndPoint(IPAddress.Loopback, listeners!.Single(l => l.Id == "tcp/5060").BoundPort!.Value);

        // The greedy client writes far more (about 18 MB) than the socket buffers and the server's output pipe hold,
        // reading nothing.
        using var greedy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 16 * 1024, SendBufferSize = 16 * 1024 };
        await greedy.ConnectAsync(target).DefaultTimeout();
        var payload = Enumerable.Range(0, Pipelined).SelectMany(Options).ToArray();
        var sending = greedy.SendAsync(payload);

        // Its answers (about 40 MB) back up: wait until the server's socket holds a full, unmoving send queue (the
        // kernel takes no more; the server's handler now waits on its output pipe).
        await ServerSendQueueStalledAsync(target.Port, ((IPEndPoint)greedy.LocalEndPoint!).Port).DefaultTimeout();

        // Meanwhile another client is answered at once.
        using var polite = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await polite.ConnectAsync(target).DefaultTimeout();
        for (var i = 0; i < 20; i++)
        {
            await polite.SendAsync(Options(1_000_000 + i)).DefaultTimeout();
            var answer = await ReadAnswersAsync(polite, 1).DefaultTimeout();
            Assert.Equal(1, answer);
        }


        // The greedy client now reads: every request is answered, none lost (a flush that blocked the socket thread, or
        // gave up on the slow reader, would lose the connection), and its send completes.
        var answers = await ReadAnswersAsync(greedy, Pipelined).DefaultTimeout(TimeSpan.FromSeconds(60));
        Assert.Equal(Pipelined, answers);
        await sending.DefaultTimeout();
    }

    /// <summary>Polls `ss` for the server side of the connection until its Send-Q is over 256 KB and the same twice in a row.</summary>
    private static async Task ServerSendQueueStalledAsync(int serverPort, int clientPort)
    {
        long last = -1;
        while (true)
        {
            var ss = await ExternalTool.RunAsync("ss", ["-tnH", "state", "established", $"( sport = :{serverPort} and dport = :{clientPort} )"]);
            var fields = ss.Stdout.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            var queued = fields.Length > 1 && long.TryParse(fields[1], out var q) ? q : 0;
            if (queued > 256 * 1024 && queued == last)
            {
                return;
            }

            last = queued;
            await Task.Delay(100);
        }
    }

    /// <summary>Reads until <paramref name="expected"/> SIP responses with status 200 have arrived; returns the count.</summary>
    private static async Task<int> ReadAnswersAsync(Socket socket, int expected)
    {
        var buffer = new byte[64 * 1024];
        var marker = "SIP/2.0 200 "u8.ToArray();
        var count = 0;
        var carry = new List<byte>();
        while (count < expected)
        {
            var n = await socket.ReceiveAsync(buffer);
            if (n == 0)
            {
                break;
            }

            carry.AddRange(buffer.AsSpan(0, n).ToArray());
            var span = carry.ToArray().AsSpan();
            var last = 0;
            int at;
            while ((at = span[last..].IndexOf(marker)) >= 0)
            {
                count++;
                last += at + marker.Length;
            }

            carry.RemoveRange(0, Math.Max(0, Math.Min(last, carry.Count - (marker.Length - 1))));
        }

        return count;
    }
}
