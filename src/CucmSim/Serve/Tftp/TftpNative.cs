using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CucmSim.Protocols.Tftp;
using static CucmSim.Clients.Net.LinuxMessages;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// Batched UDP system calls for the TFTP data path: a window of DATA blocks leaves in one call, each block
/// gathered from its 4-byte header and the file's bytes in place (no copy). Linux only, like the rest of
/// the I/O loop.
/// </summary>
internal static unsafe partial class TftpNative
{
    /// <summary>Blocks per system call; a larger window is sent in several.</summary>
    public const int MaxBatch = 64;

    // <linux/udp.h>: UDP_SEGMENT (generic segmentation offload, Linux 4.18); at most 64 segments per send
    // (UDP_MAX_SEGMENTS) and no more payload than one IPv4 datagram holds.
    private const int SolUdp = 17;
    private const int UdpSegment = 103;
    private const int MaxSegments = 64;
    private const int MaxGsoPayload = 65507;

    private const int EAgain = 11;

    [ThreadStatic]
    private static SendScratch? t_scratch;

    /// <summary>
    /// Sends DATA blocks <paramref name="first"/>..<paramref name="last"/> of <paramref name="content"/> to
    /// <paramref name="to"/>. With <paramref name="segmentation"/> a run of full blocks goes as one UDP GSO send
    /// (the kernel cuts it into one datagram per block, as if each had been sent alone); otherwise, or if the
    /// route refuses it, one sendmmsg per batch. Returns the datagrams and bytes handed to the kernel; stops
    /// early on a full buffer (the retransmission timer covers what did not leave).
    /// </summary>
    public static (int Datagrams, long Bytes) SendBlocks(int fd, ReadOnlySpan<byte> content, int blockSize, long first, long last, ReadOnlySpan<byte> to, ref bool segmentation)
    {
        var scratch = t_scratch ??= new SendScratch();
        var datagrams = 0;
        var bytes = 0L;
        fixed (byte* data = content)
        fixed (byte* name = to)
        {
            var block = first;
            while (block <= last)
            {
                var count = (int)Math.Min(last - block + 1, MaxBatch);
                var segment = TftpPacket.HeaderLength + blockSize;
                if (segmentation && count > 1)
                {
                    count = Math.Min(count, Math.Min(MaxSegments, MaxGsoPayload / segment));
                }

                var payload = 0L;
                for (var i = 0; i < count; i++)
                {
                    var b = block + i;
                    var offset = (b - 1) * blockSize;
                    var length = (int)Math.Clamp(content.Length - offset, 0, blockSize);
                    var header = scratch.Headers + (i * TftpPacket.HeaderLength);
                    BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(header, 2), (ushort)TftpOpcode.Data);
                    BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(header + 2, 2), (ushort)b);
                    scratch.Iov[2 * i] = new IoVec { Base = header, Length = TftpPacket.HeaderLength };
                    scratch.Iov[(2 * i) + 1] = new IoVec { Base = data + Math.Min(offset, content.Length), Length = (nuint)length };
                    scratch.Messages[i].Header = new MsgHdr { Name = name, NameLength = (uint)to.Length, Iov = &scratch.Iov[2 * i], IovLength = 2 };
                    payload += TftpPacket.HeaderLength + length;
                }

                if (segmentation && count > 1)
                {
                    // Every block but the file's last is full, so each segment is exactly one DATA packet.
                    var control = (CMsgHdr*)scratch.Control;
                    control->Length = (nuint)(sizeof(CMsgHdr) + sizeof(ushort));
                    control->Level = SolUdp;
                    control->Type = UdpSegment;
                    *(ushort*)(control + 1) = (ushort)segment;
                    var message = new MsgHdr
                    {
                        Name = name,
                        NameLength = (uint)to.Length,
                        Iov = scratch.Iov,
                        IovLength = (nuint)(2 * count),
                        Control = control,
                        ControlLength = SendScratch.ControlSize,
                    };
                    var sent = SendMsg(fd, &message, 0);
                    if (sent >= 0)
                    {
                        datagrams += count;
                        bytes += sent;
                        block += count;
                        continue;
                    }

                    if (Marshal.GetLastSystemError() == EAgain)
                    {
                        break;
                    }

                    // EIO (no checksum offload on the route), EINVAL (a segment above the path MTU), an old
                    // kernel: this transfer sends datagram by datagram from now on.
                    segmentation = false;
                    continue;
                }

                var done = 0;
                while (done < count)
                {
                    var n = SendMmsg(fd, scratch.Messages + done, (uint)(count - done), 0);
                    if (n <= 0)
                    {
                        return (datagrams, bytes);
                    }

                    for (var i = done; i < done + n; i++)
                    {
                        bytes += scratch.Messages[i].Length;
                    }

                    done += n;
                    datagrams += n;
                }

                block += count;
            }
        }

        return (datagrams, bytes);
    }

    // struct cmsghdr of the LP64 Linux ABI (x86-64, arm64).
    [StructLayout(LayoutKind.Sequential)]
    private struct CMsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>
    /// The vectors of one batch, one set per sending thread (used only during the call): a pinned array, so
    /// the set goes with its thread.
    /// </summary>
    private sealed class SendScratch
    {
        // CMSG_SPACE(sizeof(uint16_t)) on LP64: a 16-byte header and the value padded to 8.
        public const int ControlSize = 24;

        private static readonly int IovOffset = MaxBatch * sizeof(MMsgHdr);
        private static readonly int HeadersOffset = IovOffset + (2 * MaxBatch * sizeof(IoVec));
        private static readonly int ControlOffset = HeadersOffset + (MaxBatch * TftpPacket.HeaderLength);

        // Array data is 8-byte aligned and every offset is a multiple of 8, as the structures need.
        private readonly byte[] _memory = GC.AllocateArray<byte>(ControlOffset + ControlSize, pinned: true);

        public MMsgHdr* Messages => (MMsgHdr*)Base;

        public IoVec* Iov => (IoVec*)(Base + IovOffset);

        public byte* Headers => Base + HeadersOffset;

        public byte* Control => Base + ControlOffset;

        private byte* Base => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
    }
}
