using System.Buffers;
using System.Text;
using CucmSim.Protocols.Mgcp;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Mgcp;

public sealed class MgcpCodecTests
{
    private const string Crcx = "CRCX 2002 S0/SU0/DS1-0/1@gw1.lab.local MGCP 0.1\r\nC: A3C47F21456789F0\r\nL: p:20, a:PCMU\r\nM: recvonly\r\n";
    private const string Answer = "200 2002 OK\r\nI: FDE234C8\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 16500 RTP/AVP 0\r\n";

    private static MgcpMessage Parse(string text)
    {
        Assert.Equal(OperationStatus.Done, MgcpCodec.TryParse(Encoding.ASCII.GetBytes(text), out var m, out _, out var error));
        Assert.Null(error);
        return m!;
    }

    [Fact]
    public void Command_parses_and_formats_back_byte_for_byte()
    {
        var m = Parse(Crcx);
        Assert.False(m.IsResponse);
        Assert.Equal(("CRCX", 2002u, "S0/SU0/DS1-0/1@gw1.lab.local", "0.1"), (m.Verb, m.TransactionId, m.Endpoint, m.Version));
        Assert.Equal("p:20, a:PCMU", m["l"]);
        Assert.Equal(3, m.Parameters.Count);
        Assert.Null(m.Sdp);
        Assert.Equal(Crcx, MgcpCodec.Format(m));
    }

    [Fact]
    public void Response_with_sdp_parses_and_formats_back_byte_for_byte()
    {
        var m = Parse(Answer);
        Assert.True(m.IsResponse);
        Assert.Equal((200, 2002u, "OK", "FDE234C8"), (m.Code, m.TransactionId, m.Commentary, m["I"]));
        Assert.StartsWith("v=0\r\n", m.Sdp, StringComparison.Ordinal);
        Assert.Equal(Answer, MgcpCodec.Format(m));
    }

    [Fact]
    public void Built_messages_round_trip()
    {
        var command = MgcpMessage.Command("RSIP", 999_999_999, "*@gw2", "1.0", [new("RM", "restart"), new("RD", "0")]);
        var back = Parse(MgcpCodec.Format(command));
        Assert.Equal(command.Verb, back.Verb);
        Assert.Equal(command.Parameters, back.Parameters);
        var response = MgcpMessage.Response(504, 7, "Unknown or unsupported command");
        Assert.Equal("504 7 Unknown or unsupported command\r\n", MgcpCodec.Format(response));
        Assert.Equal((504, 7u, "Unknown or unsupported command"), Parse(MgcpCodec.Format(response)) is var r ? (r.Code, r.TransactionId, r.Commentary) : default);
    }

    [Fact]
    public void Bare_lf_lines_and_a_piggybacked_message_keep_only_the_first()
    {
        var m = Parse("NTFY 12 aaln/1@gw MGCP 1.0\nX: 1\nO: L/hd\n.\n200 11 OK\n");
        Assert.Equal(("NTFY", "L/hd"), (m.Verb, m["O"]));
        Assert.Equal(2, m.Parameters.Count);
    }

    [Theory]
    [InlineData("", 0u)]
    [InlineData("RSIP\r\n", 0u)]
    [InlineData("RSIP 0 *@gw MGCP 1.0\r\n", 0u)]
    [InlineData("RSIP 1000000000 *@gw MGCP 1.0\r\n", 0u)]
    [InlineData("RSIP 5 *@gw\r\n", 5u)]
    [InlineData("RSIP 5 nodomain MGCP 1.0\r\n", 5u)]
    [InlineData("RSIP 5 *@gw SIP 1.0\r\n", 5u)]
    [InlineData("RSIP 5 *@gw MGCP 1.0\r\nno colon here\r\n", 5u)]
    [InlineData("RSIP 5 *@gw MGCP 1.0\r\nR M: x\r\n", 5u)]
    [InlineData("RSIP 5 *@gw MGCP 1.0\r\nRM: x\0\r\n", 0u)]
    public void Malformed_messages_are_invalid_and_name_the_transaction_id_when_seen(string text, uint tid)
    {
        Assert.Equal(OperationStatus.InvalidData, MgcpCodec.TryParse(Encoding.ASCII.GetBytes(text), out var m, out var seen, out var error));
        Assert.Null(m);
        Assert.Equal(tid, seen);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Limits_on_size_and_parameter_count()
    {
        var big = Encoding.ASCII.GetBytes("RSIP 1 *@gw MGCP 1.0\r\nX: " + new string('a', MgcpCodec.MaxMessageSize));
        Assert.Equal(OperationStatus.InvalidData, MgcpCodec.TryParse(big, out _, out _, out var error));
        Assert.Contains("longer", error, StringComparison.Ordinal);
        var many = "RSIP 1 *@gw MGCP 1.0\r\n" + string.Concat(Enumerable.Range(0, MgcpCodec.MaxParameters + 1).Select(i => $"X{i}: {i}\r\n"));
        Assert.Equal(OperationStatus.InvalidData, MgcpCodec.TryParse(Encoding.ASCII.GetBytes(many), out _, out _, out error));
        Assert.Contains("parameters", error, StringComparison.Ordinal);
        var endpoint = "RSIP 1 " + new string('e', MgcpCodec.MaxEndpointLength) + "@gw MGCP 1.0\r\n";
        Assert.Equal(OperationStatus.InvalidData, MgcpCodec.TryParse(Encoding.ASCII.GetBytes(endpoint), out _, out _, out _));
    }

    [Fact]
    public void Every_truncation_and_multi_segment_copy_parses_or_is_invalid()
    {
        var bytes = Encoding.ASCII.GetBytes(Answer);
        for (var i = 0; i <= bytes.Length; i++)
        {
            var status = MgcpCodec.TryParse(Segments.Of(bytes[..(i / 2)], bytes[(i / 2)..i]).ToArray(), out var m, out _, out _);
            Assert.True(status == OperationStatus.Done ? m is not null : status == OperationStatus.InvalidData && m is null);
        }
    }

    [Fact]
    public void Random_and_mutated_input_never_throws()
    {
        foreach (var bytes in Fuzz.RandomAndMutated(2427, 5000, 200, Encoding.ASCII.GetBytes(Crcx), Encoding.ASCII.GetBytes(Answer)))
        {
            var status = MgcpCodec.TryParse(bytes, out _, out _, out _);
            Assert.True(status is OperationStatus.Done or OperationStatus.InvalidData);
        }
    }
}
