using System.Buffers;
using CucmSim.Protocols.Rmi;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Rmi;

public sealed class JrmpCodecTests
{
    // What Java writes: "JRMI", version 2, StreamProtocol; and a ProtocolAck for 10.0.0.7:51514.
    private static readonly byte[] Header = Convert.FromHexString("4A524D4900024B");
    private static readonly byte[] Ack = Convert.FromHexString("4E" + "0008" + "31302E302E302E37" + "0000C93A");

    [Fact]
    public void Header_is_written_and_read_back_across_every_split()
    {
        var b = new byte[JrmpCodec.HeaderSize];
        JrmpCodec.WriteHeader(b, JrmpProtocol.Stream);
        Assert.Equal(Header, b);
        foreach (var sequence in Segments.AllSplits(Header).Append(Segments.ByteAtATime(Header)))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(OperationStatus.Done, JrmpCodec.TryReadHeader(ref reader, out var version, out var protocol));
            Assert.Equal((2, (byte)JrmpProtocol.Stream, 7L), (version, protocol, reader.Consumed));
        }
    }

    [Fact]
    public void Protocol_ack_carries_the_endpoint_and_reads_back_across_every_split()
    {
        var b = new byte[64];
        Assert.Equal(Ack, b[..JrmpCodec.WriteProtocolAck(b, "10.0.0.7", 51514)]);
        foreach (var sequence in Segments.AllSplits(Ack))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(OperationStatus.Done, JrmpCodec.TryReadProtocolAck(ref reader, out _, out var host, out var port));
            Assert.Equal(("10.0.0.7", 51514), (host, port));
            Assert.True(reader.End);
        }
    }

    [Fact]
    public void Truncated_input_needs_more_and_consumes_nothing()
    {
        for (var i = 0; i < Header.Length; i++)
        {
            var reader = new SequenceReader<byte>(Segments.Of(Header[..(i / 2)], Header[(i / 2)..i]));
            Assert.Equal(OperationStatus.NeedMoreData, JrmpCodec.TryReadHeader(ref reader, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }

        for (var i = 0; i < Ack.Length; i++)
        {
            var reader = new SequenceReader<byte>(Segments.Of(Ack[..(i / 2)], Ack[(i / 2)..i]));
            Assert.Equal(OperationStatus.NeedMoreData, JrmpCodec.TryReadProtocolAck(ref reader, out _, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [InlineData("47455420")] // "GET " fails on the first byte
    [InlineData("4A524D5800024B")] // wrong magic
    [InlineData("4A524D4900034B")] // version 3
    [InlineData("4A524D4900004B")] // version 0
    public void Wrong_headers_are_invalid_as_soon_as_visible(string hex)
    {
        var reader = new SequenceReader<byte>(Segments.Of(Convert.FromHexString(hex)));
        Assert.Equal(OperationStatus.InvalidData, JrmpCodec.TryReadHeader(ref reader, out _, out _));
    }

    [Fact]
    public void Oversized_host_and_out_of_range_port_are_invalid()
    {
        var reader = new SequenceReader<byte>(Segments.Of(Convert.FromHexString("0100")));
        Assert.Equal(OperationStatus.InvalidData, JrmpCodec.TryReadEndpoint(ref reader, out _, out _));
        reader = new SequenceReader<byte>(Segments.Of(Convert.FromHexString("000161"), Convert.FromHexString("00010000")));
        Assert.Equal(OperationStatus.InvalidData, JrmpCodec.TryReadEndpoint(ref reader, out _, out _));
        reader = new SequenceReader<byte>(Segments.Of(Convert.FromHexString("4F")));
        Assert.Equal(OperationStatus.InvalidData, JrmpCodec.TryReadProtocolAck(ref reader, out var answer, out _, out _));
        Assert.Equal((byte)JrmpMessage.ProtocolNotSupported, answer);
    }

    [Fact]
    public void Random_input_never_throws()
    {
        var random = new Random(1099);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, 40)];
            random.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length >= 4)
            {
                "JRMI"u8.CopyTo(bytes);
            }

            var split = random.Next(0, bytes.Length + 1);
            var sequence = Segments.Of(bytes[..split], bytes[split..]);
            var r1 = new SequenceReader<byte>(sequence);
            _ = JrmpCodec.TryReadHeader(ref r1, out _, out _);
            var r2 = new SequenceReader<byte>(sequence);
            _ = JrmpCodec.TryReadEndpoint(ref r2, out _, out _);
            var r3 = new SequenceReader<byte>(sequence);
            _ = JrmpCodec.TryReadProtocolAck(ref r3, out _, out _, out _);
        }
    }
}
