using System.Buffers;
using System.Net;
using System.Text;
using CucmSim.Protocols.Echo;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Echo;

public sealed class EchoProbeTests
{
    private static readonly byte[] Line = "CUCMSIM-PROBE n0nce-42\r\nrest"u8.ToArray();

    [Fact]
    public void Probe_line_parses_at_every_split_point()
    {
        foreach (var sequence in Segments.AllSplits(Line).Append(Segments.ByteAtATime(Line)))
        {
            var reader = new SequenceReader<byte>(sequence);
            var nonce = new byte[EchoProbe.MaxNonceLength];
            Assert.Equal(OperationStatus.Done, EchoProbe.TryReadProbeLine(ref reader, nonce, out var length));
            Assert.Equal("n0nce-42", Encoding.ASCII.GetString(nonce, 0, length));
            Assert.Equal(Line.Length - 4, reader.Consumed);
        }
    }

    [Fact]
    public void Every_truncation_needs_more_data_and_consumes_nothing()
    {
        var whole = "CUCMSIM-PROBE abc\r\n"u8.ToArray();
        for (var n = 0; n < whole.Length; n++)
        {
            var reader = new SequenceReader<byte>(Segments.Of(whole[..n]));
            var status = EchoProbe.TryReadProbeLine(ref reader, new byte[64], out _);
            Assert.True(status == OperationStatus.NeedMoreData, $"prefix of {n} bytes gave {status}");
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n")]
    [InlineData("CUCMSIM-PROBX abc\n")]
    [InlineData("CUCMSIM-PROBE \n")]
    [InlineData("CUCMSIM-PROBE a b\n")]
    [InlineData("CUCMSIM-PROBE abc\rX")]
    [InlineData("\x16\x03\x01\x02\x00")]
    public void Anything_else_is_not_a_probe_and_consumes_nothing(string input)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        var reader = new SequenceReader<byte>(Segments.ByteAtATime(bytes));
        Assert.Equal(OperationStatus.InvalidData, EchoProbe.TryReadProbeLine(ref reader, new byte[64], out _));
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void Oversized_nonce_is_refused()
    {
        var bytes = Encoding.ASCII.GetBytes("CUCMSIM-PROBE " + new string('x', EchoProbe.MaxNonceLength + 1) + "\n");
        var reader = new SequenceReader<byte>(Segments.Of(bytes));
        Assert.Equal(OperationStatus.InvalidData, EchoProbe.TryReadProbeLine(ref reader, new byte[EchoProbe.MaxNonceLength], out _));
        Assert.False(EchoProbe.TryParseDatagram(bytes, out _));
    }

    [Fact]
    public void Random_input_never_throws_and_never_reads_past_its_buffer()
    {
        var random = new Random(1234);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, 120)];
            random.NextBytes(bytes);
            if (random.Next(3) == 0)
            {
                EchoProbe.ProbePrefix[..Math.Min(bytes.Length, EchoProbe.ProbePrefix.Length)].CopyTo(bytes);
            }

            var reader = new SequenceReader<byte>(Segments.ByteAtATime(bytes));
            var status = EchoProbe.TryReadProbeLine(ref reader, new byte[EchoProbe.MaxNonceLength], out var length);
            Assert.InRange(length, 0, EchoProbe.MaxNonceLength);
            Assert.True(status != OperationStatus.Done || reader.Consumed > EchoProbe.ProbePrefix.Length);
            _ = EchoProbe.TryParseDatagram(bytes, out _);
        }
    }

    [Theory]
    [InlineData("CUCMSIM-PROBE abc", true)]
    [InlineData("CUCMSIM-PROBE abc\n", true)]
    [InlineData("CUCMSIM-PROBE abc\r\n", true)]
    [InlineData("CUCMSIM-PROBE ", false)]
    [InlineData("CUCMSIM-PROBE a\tb", false)]
    [InlineData("\x80\x00\x00\x01", false)]
    public void Datagram_probe(string input, bool expected)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        Assert.Equal(expected, EchoProbe.TryParseDatagram(bytes, out var nonce));
        if (expected)
        {
            Assert.Equal("abc", Encoding.ASCII.GetString(bytes[nonce]));
        }
    }

    [Fact]
    public void Echo_formats_and_parses_back_with_ipv4_mapped_addresses_shown_as_ipv4()
    {
        var buffer = new byte[EchoProbe.MaxEchoLength];
        var local = new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 2000);
        var peer = new IPEndPoint(IPAddress.Parse("2001:db8::1"), 40000);
        var n = EchoProbe.FormatEcho(buffer, "abc"u8, "tcp/2000", local, peer);
        var line = Encoding.ASCII.GetString(buffer, 0, n);
        Assert.Equal("CUCMSIM-ECHO abc tcp/2000 10.1.2.3:2000 [2001:db8::1]:40000\n", line);
        Assert.True(EchoProbe.TryParseEcho(buffer.AsSpan(0, n), out var reply));
        Assert.Equal(peer, reply.PeerAsSeen);
        Assert.Equal("tcp/2000", reply.ListenerId);
    }

    [Fact]
    public void Longest_echo_fits_the_declared_maximum()
    {
        var buffer = new byte[EchoProbe.MaxEchoLength];
        var nonce = Encoding.ASCII.GetBytes(new string('n', EchoProbe.MaxNonceLength));
        var v6 = new IPEndPoint(IPAddress.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535);
        var n = EchoProbe.FormatEcho(buffer, nonce, new string('l', EchoProbe.MaxListenerIdLength), v6, v6);
        Assert.True(n <= EchoProbe.MaxEchoLength);
    }

    [Theory]
    [InlineData("CUCMSIM-PROBE abc idle=30", true, 30)]
    [InlineData("CUCMSIM-PROBE abc idle=900\n", true, 900)]
    [InlineData("CUCMSIM-PROBE abc idle=9999\r\n", true, 9999)]
    [InlineData("CUCMSIM-PROBE abc idle=0", true, 0)]
    [InlineData("CUCMSIM-PROBE abc idle=", false, 0)]
    [InlineData("CUCMSIM-PROBE abc idle=10000", false, 0)]
    [InlineData("CUCMSIM-PROBE abc idle=-1", false, 0)]
    [InlineData("CUCMSIM-PROBE abc idle=3x", false, 0)]
    [InlineData("CUCMSIM-PROBE abc wait=3", false, 0)]
    [InlineData("CUCMSIM-PROBE abc  idle=3", false, 0)]
    [InlineData("CUCMSIM-PROBE  idle=3", false, 0)]
    [InlineData("CUCMSIM-PROBE a\tb idle=3", false, 0)]
    public void Datagram_probe_with_an_idle_request(string input, bool expected, int idle)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        Assert.Equal(expected, EchoProbe.TryParseDatagram(bytes, out var nonce, out var seconds));
        Assert.Equal(idle, seconds);
        if (expected)
        {
            Assert.Equal("abc", Encoding.ASCII.GetString(bytes[nonce]));
        }
    }

    [Fact]
    public void The_longest_idle_request_is_a_probe_and_one_byte_more_is_not()
    {
        var line = "CUCMSIM-PROBE " + new string('n', EchoProbe.MaxNonceLength) + " idle=9999\r\n";
        Assert.Equal(EchoProbe.MaxDatagramLength, line.Length);
        Assert.True(EchoProbe.TryParseDatagram(Encoding.ASCII.GetBytes(line), out _, out var idle));
        Assert.Equal(9999, idle);
        Assert.False(EchoProbe.TryParseDatagram(Encoding.ASCII.GetBytes(line.Replace("idle=", "idle=1", StringComparison.Ordinal)), out _, out _));
    }

    [Fact]
    public void The_acknowledged_echo_and_the_callback_parse_back_and_the_callback_is_as_long_as_the_plain_echo()
    {
        var buffer = new byte[EchoProbe.MaxEchoLength];
        var local = new IPEndPoint(IPAddress.Parse("10.1.2.3"), 5060);
        var peer = new IPEndPoint(IPAddress.Parse("198.51.100.2"), 40000);
        var plain = EchoProbe.FormatEcho(buffer, "abc"u8, "udp/5060", local, peer);
        var acknowledged = EchoProbe.FormatEcho(buffer, "abc"u8, "udp/5060", local, peer, idleScheduled: 120);
        Assert.Equal("CUCMSIM-ECHO abc udp/5060 10.1.2.3:5060 198.51.100.2:40000 idle=120\n", Encoding.ASCII.GetString(buffer, 0, acknowledged));
        Assert.True(EchoProbe.TryParseEcho(buffer.AsSpan(0, acknowledged), out var echo));
        Assert.Equal(120, echo.IdleScheduled);
        Assert.False(echo.IsCallback);

        var callback = EchoProbe.FormatEcho(buffer, "abc"u8, "udp/5060", local, peer, idleScheduled: 120, callback: true);
        Assert.Equal(plain, callback);
        Assert.Equal("CUCMSIM-IDLE abc udp/5060 10.1.2.3:5060 198.51.100.2:40000\n", Encoding.ASCII.GetString(buffer, 0, callback));
        Assert.True(EchoProbe.TryParseEcho(buffer.AsSpan(0, callback), out var delayed));
        Assert.True(delayed.IsCallback);
        Assert.Equal(peer, delayed.PeerAsSeen);

        Assert.False(EchoProbe.TryParseEcho("CUCMSIM-IDLE abc udp/5060 10.1.2.3:5060 198.51.100.2:40000 idle=3"u8, out _));
        Assert.False(EchoProbe.TryParseEcho("CUCMSIM-ECHO abc udp/5060 10.1.2.3:5060 198.51.100.2:40000 wait=3"u8, out _));
    }

    [Fact]
    public void Longest_acknowledged_echo_fits_the_declared_maximum()
    {
        var buffer = new byte[EchoProbe.MaxEchoLength];
        var nonce = Encoding.ASCII.GetBytes(new string('n', EchoProbe.MaxNonceLength));
        var v6 = new IPEndPoint(IPAddress.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535);
        var n = EchoProbe.FormatEcho(buffer, nonce, new string('l', EchoProbe.MaxListenerIdLength), v6, v6, idleScheduled: 9999);
        Assert.True(n <= EchoProbe.MaxEchoLength);
    }
}
