using System.Buffers;
using System.Text;
using CucmSim.Protocols.Tftp;

namespace CucmSim.Protocols.Tests.Tftp;

public sealed class TftpPacketTests
{
    // Golden bytes from ../shared/reference/captures/tftp.pcapng (frames 1, 3, 5, 7, 8, 9).
    private static readonly byte[] GoldenRrq = Convert.FromHexString("00015345503030313132323333343435352e636e662e786d6c006f6374657400");
    private static readonly byte[] GoldenAck1 = Convert.FromHexString("00040001");
    private static readonly byte[] GoldenError1 = Convert.FromHexString("0005000146696c65206e6f7420666f756e6400");
    private static readonly byte[] GoldenRrqOptions = Convert.FromHexString("00016269672e62696e006f63746574007473697a6500300074696d656f7574003200626c6b73697a6500313432380077696e646f7773697a65003800");
    private static readonly byte[] GoldenOack = Convert.FromHexString("0006626c6b73697a650031343238007473697a65003330303030300074696d656f757400320077696e646f7773697a65003800");
    private static readonly byte[] GoldenAck0 = Convert.FromHexString("00040000");

    [Fact]
    public void Golden_rrq_without_options_parses_and_round_trips()
    {
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseRequest(GoldenRrq, out var request, out var error));
        Assert.Null(error);
        Assert.Equal(TftpOpcode.ReadRequest, request!.Opcode);
        Assert.Equal("SEP001122334455.cnf.xml", request.FileName);
        Assert.Equal(TftpMode.Octet, request.Mode);
        Assert.False(request.Options.Any);

        var buffer = new byte[512];
        var n = TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, "SEP001122334455.cnf.xml", TftpMode.Octet, default);
        Assert.Equal(GoldenRrq, buffer[..n]);
    }

    [Fact]
    public void Golden_rrq_with_all_four_options_parses()
    {
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseRequest(GoldenRrqOptions, out var request, out _));
        Assert.Equal("big.bin", request!.FileName);
        Assert.Equal(new TftpOptionSet(1428, 0, 2, 8), request.Options);
        Assert.Equal(0, request.UnknownOptions);
    }

    [Fact]
    public void Golden_oack_is_written_byte_for_byte_and_parses_back()
    {
        var buffer = new byte[512];
        var n = TftpPacket.WriteOptionAck(buffer, new TftpOptionSet(1428, 300000, 2, 8));
        Assert.Equal(GoldenOack, buffer[..n]);
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseOptionAck(GoldenOack, out var options, out _));
        Assert.Equal(new TftpOptionSet(1428, 300000, 2, 8), options);
    }

    [Fact]
    public void Golden_ack_and_error_round_trip()
    {
        Assert.True(TftpPacket.TryParseAck(GoldenAck1, out var block));
        Assert.Equal(1, block);
        Assert.True(TftpPacket.TryParseAck(GoldenAck0, out block));
        Assert.Equal(0, block);
        var buffer = new byte[64];
        Assert.Equal(GoldenAck1, buffer[..TftpPacket.WriteAck(buffer, 1)]);
        Assert.Equal(GoldenError1, buffer[..TftpPacket.WriteError(buffer, TftpErrorCode.FileNotFound, "File not found")]);
        Assert.True(TftpPacket.TryParseError(GoldenError1, out var code, out var message));
        Assert.Equal(TftpErrorCode.FileNotFound, code);
        Assert.Equal("File not found", message);
    }

    [Fact]
    public void Data_round_trips_including_an_empty_last_block()
    {
        var buffer = new byte[600];
        var n = TftpPacket.WriteData(buffer, 65535, "abc"u8);
        Assert.True(TftpPacket.TryParseData(buffer.AsSpan(0, n), out var block, out var data));
        Assert.Equal(65535, block);
        Assert.Equal("abc"u8.ToArray(), data.ToArray());
        n = TftpPacket.WriteData(buffer, 0, default);
        Assert.True(TftpPacket.TryParseData(buffer.AsSpan(0, n), out block, out data));
        Assert.Equal(0, block);
        Assert.True(data.IsEmpty);
        Assert.Equal(-1, TftpPacket.WriteData(buffer.AsSpan(0, 5), 1, "ab"u8));
    }

    [Fact]
    public void Netascii_mode_and_option_names_are_case_insensitive_and_unknown_options_are_ignored()
    {
        var packet = Build(1, "a.txt", "NetASCII", "BLKSIZE", "1024", "multicast", "", "TSize", "0");
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseRequest(packet, out var request, out _));
        Assert.Equal(TftpMode.NetAscii, request!.Mode);
        Assert.Equal(new TftpOptionSet(1024, 0, null, null), request.Options);
        Assert.Equal(1, request.UnknownOptions);
    }

    [Theory]
    [InlineData("blksize", "7")]
    [InlineData("blksize", "65465")]
    [InlineData("blksize", "99999999999999999999999")]
    [InlineData("blksize", "-1")]
    [InlineData("blksize", "")]
    [InlineData("blksize", "12a")]
    [InlineData("timeout", "0")]
    [InlineData("timeout", "256")]
    [InlineData("windowsize", "0")]
    [InlineData("windowsize", "65536")]
    [InlineData("tsize", "x")]
    [InlineData("tsize", "9999999999999999999")]
    public void Absurd_option_values_are_invalid(string name, string value)
    {
        var packet = Build(1, "f", "octet", name, value);
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(packet, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Duplicate_options_and_too_many_options_are_invalid()
    {
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(1, "f", "octet", "blksize", "512", "BLKSIZE", "1024"), out _, out _));
        var many = new List<string> { "f", "octet" };
        for (var i = 0; i < 17; i++)
        {
            many.Add($"x{i}");
            many.Add("1");
        }

        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(1, [.. many]), out _, out var error));
        Assert.Contains("too many", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_names_modes_and_sizes_are_invalid()
    {
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(1, "", "octet"), out _, out _));
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(1, "a\u0001b", "octet"), out _, out _));
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(1, "f", "binary"), out _, out _));
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(1, new string('a', 256), "octet"), out _, out _));
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(Build(3, "f", "octet"), out _, out _));
        var oversized = new byte[513];
        Build(1, "f", "octet").CopyTo(oversized, 0);
        Assert.Equal(OperationStatus.InvalidData, TftpPacket.TryParseRequest(oversized, out _, out var error));
        Assert.Contains("512", error, StringComparison.Ordinal);
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseRequest(Build(2, "f", "octet"), out var wrq, out _));
        Assert.Equal(TftpOpcode.WriteRequest, wrq!.Opcode);
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseRequest(Build(1, "f", "mail"), out var mail, out _));
        Assert.Equal(TftpMode.Mail, mail!.Mode);
    }

    [Fact]
    public void Every_truncation_of_a_valid_request_is_invalid_never_a_crash()
    {
        for (var i = 0; i < GoldenRrqOptions.Length; i++)
        {
            var status = TftpPacket.TryParseRequest(GoldenRrqOptions.AsSpan(0, i), out var request, out var error);
            // Cut exactly after a complete option pair the request is still whole; everywhere else it is not.
            if (status == OperationStatus.Done)
            {
                Assert.NotNull(request);
                Assert.Equal(0, GoldenRrqOptions[i - 1]);
            }
            else
            {
                Assert.Equal(OperationStatus.InvalidData, status);
                Assert.NotNull(error);
            }
        }

        for (var i = 0; i < GoldenOack.Length; i++)
        {
            _ = TftpPacket.TryParseOptionAck(GoldenOack.AsSpan(0, i), out _, out _);
        }

        Assert.False(TftpPacket.TryParseAck(GoldenAck1.AsSpan(0, 3), out _));
        Assert.False(TftpPacket.TryParseError(GoldenError1.AsSpan(0, 3), out _, out _));
        Assert.False(TftpPacket.TryReadOpcode([0], out _));
    }

    [Fact]
    public void Random_datagrams_never_crash_any_parser()
    {
        var random = new Random(1350);
        var buffer = new byte[700];
        for (var i = 0; i < 20_000; i++)
        {
            var length = random.Next(0, buffer.Length);
            random.NextBytes(buffer.AsSpan(0, length));
            if (length >= 2 && random.Next(2) == 0)
            {
                buffer[0] = 0;
                buffer[1] = (byte)random.Next(0, 8);
            }

            var span = buffer.AsSpan(0, length);
            var status = TftpPacket.TryParseRequest(span, out var request, out var error);
            Assert.True(status == OperationStatus.Done ? request is not null : error is not null);
            _ = TftpPacket.TryParseOptionAck(span, out _, out _);
            _ = TftpPacket.TryParseAck(span, out _);
            _ = TftpPacket.TryParseData(span, out _, out _);
            _ = TftpPacket.TryParseError(span, out _, out _);
        }
    }

    [Fact]
    public void Writers_refuse_small_destinations()
    {
        Assert.Equal(-1, TftpPacket.WriteOptionAck(new byte[10], new TftpOptionSet(1428, 300000, 2, 8)));
        Assert.Equal(-1, TftpPacket.WriteError(new byte[5], TftpErrorCode.FileNotFound, "File not found"));
        Assert.Equal(-1, TftpPacket.WriteAck(new byte[3], 1));
        var n = TftpPacket.WriteError(new byte[600], TftpErrorCode.NotDefined, new string('x', 400));
        Assert.Equal(4 + 255 + 1, n);
    }

    [Fact]
    public void Netascii_encodes_line_ends_and_bare_cr_and_decodes_back()
    {
        var text = "a\nb\rc\r\n"u8.ToArray();
        var encoded = NetAscii.Encode(text);
        Assert.Equal("a\r\nb\r\0c\r\0\r\n"u8.ToArray(), encoded);
        Assert.Equal(encoded.Length, NetAscii.EncodedLength(text));
        Assert.Equal(text, NetAscii.Decode(encoded));
    }

    private static byte[] Build(ushort opcode, params string[] strings)
    {
        var bytes = new List<byte> { (byte)(opcode >> 8), (byte)opcode };
        foreach (var s in strings)
        {
            bytes.AddRange(Encoding.Latin1.GetBytes(s));
            bytes.Add(0);
        }

        return [.. bytes];
    }
}
