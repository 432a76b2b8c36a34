using System.Buffers.Binary;
using System.Net;
using CucmSim.Serve;

namespace CucmSim.Tests.Serve;

/// <summary>
/// The control-message parser behind every UDP answer's source address: what the kernel writes is parsed, and
/// truncated, oversized or random control data gives "unknown" (answer as the kernel chooses), never a crash or a
/// read past the buffer.
/// </summary>
public sealed unsafe class UdpArrivalTests
{
    private static byte[] Cmsg(int level, int type, byte[] data, long? declaredLength = null)
    {
        var space = 16 + ((data.Length + 7) & ~7);
        var buffer = new byte[space];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, declaredLength ?? 16 + data.Length);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(8), level);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(12), type);
        data.CopyTo(buffer, 16);
        return buffer;
    }

    private static ArrivalAddress Parse(byte[] control)
    {
        // The parser is handed the buffer's declared size; copy into one of exactly that size, so a read past
        // it would show under a checked allocator rather than land in a larger array.
        var copy = new byte[Math.Max(control.Length, 1)];
        control.CopyTo(copy, 0);
        fixed (byte* p = copy)
        {
            return UdpArrival.Parse(p, (nuint)control.Length);
        }
    }

    [Fact]
    public void Ip_pktinfo_gives_the_local_address_and_ipv6_pktinfo_the_mapped_one()
    {
        var v4 = new byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(v4, 3);
        IPAddress.Parse("198.19.0.20").TryWriteBytes(v4.AsSpan(4), out _);
        IPAddress.Parse("255.255.255.255").TryWriteBytes(v4.AsSpan(8), out _);
        var local = Parse(Cmsg(0, 8, v4));
        Assert.True(local.IsKnown);
        Assert.Equal(IPAddress.Parse("198.19.0.20"), local.ToIPAddress());
        Assert.Equal(3, local.InterfaceIndex);

        var v6 = new byte[20];
        IPAddress.Parse("198.19.0.20").MapToIPv6().TryWriteBytes(v6, out _);
        var mapped = Parse(Cmsg(41, 50, v6));
        Assert.True(mapped.IsIPv4);
        Assert.Equal(IPAddress.Parse("198.19.0.20"), mapped.ToIPAddress());
        Assert.Equal(IPAddress.Parse("198.19.0.20").MapToIPv6(), mapped.ToSocketAddress());
    }

    [Fact]
    public void Truncated_oversized_and_foreign_control_data_is_unknown()
    {
        var v4 = new byte[12];
        IPAddress.Parse("198.19.0.20").TryWriteBytes(v4.AsSpan(4), out _);
        var whole = Cmsg(0, 8, v4);
        for (var n = 0; n < 16 + 12; n++)
        {
            Assert.False(Parse(whole[..n]).IsKnown, $"{n} bytes");
        }

        // The last message need not carry its padding.
        Assert.True(Parse(whole[..(16 + 12)]).IsKnown);

        Assert.False(Parse(Cmsg(0, 8, v4, declaredLength: 4096)).IsKnown);
        Assert.False(Parse(Cmsg(0, 8, v4, declaredLength: 3)).IsKnown);
        Assert.False(Parse(Cmsg(0, 8, v4, declaredLength: -1)).IsKnown);

        // A second message whose length would overflow the walk.
        Assert.False(Parse([.. Cmsg(1, 29, new byte[8]), .. Cmsg(0, 8, v4, declaredLength: int.MaxValue)]).IsKnown);
        Assert.False(Parse(Cmsg(1, 29, v4)).IsKnown);
        Assert.False(Parse(Cmsg(41, 50, new byte[8])).IsKnown);
    }

    [Fact]
    public void Random_control_data_never_throws()
    {
        var random = new Random(11);
        for (var i = 0; i < 20_000; i++)
        {
            var control = new byte[random.Next(0, UdpArrival.ControlSize + 32)];
            random.NextBytes(control);
            if (control.Length >= 16 && random.Next(2) == 0)
            {
                // Often a plausible header, so the walk goes past the first message.
                BinaryPrimitives.WriteInt64LittleEndian(control, random.Next(16, 48));
                BinaryPrimitives.WriteInt32LittleEndian(control.AsSpan(8), random.Next(2) == 0 ? 0 : 41);
                BinaryPrimitives.WriteInt32LittleEndian(control.AsSpan(12), random.Next(2) == 0 ? 8 : 50);
            }

            _ = Parse(control);
        }
    }
}
