using System.Net;
using CucmSim.Protocols.Dhcp;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Dhcp;

public sealed class DhcpCodecTests
{
    private static byte[] Discover()
    {
        var message = new DhcpMessage { TransactionId = 0x1234abcd, Flags = 0x8000 };
        new byte[] { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 }.CopyTo(message.ClientHardwareAddress, 0);
        message.Set(DhcpOption.MessageType, [(byte)DhcpMessageType.Discover]);
        message.Set(DhcpOption.ParameterRequestList, [1, 3, 66, 150]);
        message.Set(DhcpOption.VendorClass, "Cisco Systems, Inc. IP Phone CP-8865"u8.ToArray());
        var bytes = new byte[DhcpCodec.MaxReplySize];
        return bytes[..DhcpCodec.Write(message, bytes)];
    }

    [Fact]
    public void A_discover_round_trips_and_is_padded_to_bootp_size()
    {
        var bytes = Discover();
        Assert.Equal(DhcpCodec.MinimumSize, bytes.Length);
        Assert.True(DhcpCodec.TryRead(bytes, out var message, out var error), error);
        Assert.Equal((DhcpMessageType.Discover, 0x1234abcdu, true, "00:11:22:33:44:55"), (message.MessageType, message.TransactionId, message.Broadcast, message.HardwareAddressText));
        Assert.Equal("Cisco Systems, Inc. IP Phone CP-8865", System.Text.Encoding.ASCII.GetString(message.Get(DhcpOption.VendorClass)!));
        Assert.Equal([1, 3, 66, 150], message.Get(DhcpOption.ParameterRequestList));
    }

    [Fact]
    public void Options_in_sname_and_file_are_read_when_overloaded_and_repeated_options_join()
    {
        var bytes = new byte[400];
        Discover().CopyTo(bytes, 0);
        var at = DhcpCodec.HeaderSize + 4;
        // Replace the options: 53 DISCOVER, 52 overload both fields, 150 in two parts (RFC 3396), end.
        byte[] options = [53, 1, 1, 52, 1, 3, 150, 2, 10, 0, 150, 2, 0, 1, 255];
        Array.Clear(bytes, at, bytes.Length - at);
        options.CopyTo(bytes, at);
        byte[] file = [66, 3, (byte)'a', (byte)'b', (byte)'c', 255];
        file.CopyTo(bytes, 108);
        byte[] sname = [12, 2, (byte)'p', (byte)'1', 255];
        sname.CopyTo(bytes, 44);
        Assert.True(DhcpCodec.TryRead(bytes, out var message, out var error), error);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), message.GetAddress(DhcpOption.TftpServerAddress));
        Assert.Equal("abc"u8.ToArray(), message.Get(DhcpOption.TftpServerName));
        Assert.Equal("p1"u8.ToArray(), message.Get(DhcpOption.HostName));
    }

    [Theory]
    [InlineData(0, "shorter")]
    [InlineData(239, "shorter")]
    public void Short_messages_are_refused(int length, string reason)
    {
        Assert.False(DhcpCodec.TryRead(Discover()[..length], out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_headers_and_option_lengths_are_refused()
    {
        var bytes = Discover();
        var noCookie = (byte[])bytes.Clone();
        noCookie[DhcpCodec.HeaderSize] = 0;
        Assert.False(DhcpCodec.TryRead(noCookie, out _, out var error));
        Assert.Contains("cookie", error, StringComparison.Ordinal);

        var hlen = (byte[])bytes.Clone();
        hlen[2] = 17;
        Assert.False(DhcpCodec.TryRead(hlen, out _, out error));
        Assert.Contains("hlen", error, StringComparison.Ordinal);

        var op = (byte[])bytes.Clone();
        op[0] = 3;
        Assert.False(DhcpCodec.TryRead(op, out _, out _));

        // An option whose length runs past the datagram.
        var overrun = bytes[..(DhcpCodec.HeaderSize + 4 + 3)];
        overrun[DhcpCodec.HeaderSize + 4] = 150;
        overrun[DhcpCodec.HeaderSize + 5] = 200;
        Assert.False(DhcpCodec.TryRead(overrun, out _, out error));
        Assert.Contains("past the end", error, StringComparison.Ordinal);

        // A code with no length byte.
        var cut = bytes[..(DhcpCodec.HeaderSize + 5)];
        cut[DhcpCodec.HeaderSize + 4] = 150;
        Assert.False(DhcpCodec.TryRead(cut, out _, out _));
    }

    [Fact]
    public void Too_many_options_are_refused_and_writing_what_does_not_fit_returns_zero()
    {
        var bytes = new byte[DhcpCodec.HeaderSize + 4 + (DhcpOption.End - 1) * 2];
        Discover()[..(DhcpCodec.HeaderSize + 4)].CopyTo(bytes, 0);
        for (var code = 1; code < DhcpOption.End; code++)
        {
            bytes[DhcpCodec.HeaderSize + 4 + ((code - 1) * 2)] = (byte)code;
        }

        Assert.False(DhcpCodec.TryRead(bytes, out _, out var error));
        Assert.Contains("options", error, StringComparison.Ordinal);

        var big = new DhcpMessage();
        big.Set(DhcpOption.VendorClass, new byte[400]);
        Assert.Equal(0, DhcpCodec.Write(big, new byte[DhcpCodec.MaxReplySize]));
        big.Set(DhcpOption.VendorClass, new byte[260]);
        var written = DhcpCodec.Write(big, new byte[DhcpCodec.MaxReplySize]);
        var buffer = new byte[DhcpCodec.MaxReplySize];
        DhcpCodec.Write(big, buffer);
        Assert.True(DhcpCodec.TryRead(buffer.AsSpan(0, written), out var back, out error), error);
        Assert.Equal(260, back.Get(DhcpOption.VendorClass)!.Length);
    }

    [Fact]
    public void Random_and_mutated_input_never_throws()
    {
        foreach (var bytes in Fuzz.RandomAndMutated(67, 20_000, 700, Discover()))
        {
            if (DhcpCodec.TryRead(bytes, out var message, out _))
            {
                _ = message.MessageType;
                _ = message.HardwareAddressText;
                DhcpCodec.Write(message, new byte[DhcpCodec.MaxReplySize]);
            }
        }
    }
}
