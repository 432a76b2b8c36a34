using System.Buffers;

namespace CucmSim.Protocols.Sccp;

/// <summary>Encodes and decodes SCCP messages (framing in <see cref="SccpFraming"/>).</summary>
public static class SccpCodec
{
    /// <summary>Bytes of a whole framed message in a header version.</summary>
    public static int FrameLength(SccpMessage message, uint version) => SccpFraming.HeaderLength + message.BodyLength(version);

    /// <summary>Writes a whole framed message (header and body) and returns its length.</summary>
    public static int Encode(SccpMessage message, uint version, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(message);
        var body = message.BodyLength(version);
        var total = SccpFraming.HeaderLength + body;
        if (destination.Length < total)
        {
            throw new ArgumentException($"needs {total} bytes", nameof(destination));
        }

        SccpFraming.WriteHeader(destination, body, version, message.Id);
        var writer = new SccpBodyWriter(destination.Slice(SccpFraming.HeaderLength, body));
        message.Write(ref writer, version);
        return total;
    }

    /// <summary>Encodes into a new array (clients, tests).</summary>
    public static byte[] Encode(SccpMessage message, uint version)
    {
        var bytes = new byte[FrameLength(message, version)];
        Encode(message, version, bytes);
        return bytes;
    }

    /// <summary>Writes a framed message to a buffer writer.</summary>
    public static int Encode(SccpMessage message, uint version, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var length = FrameLength(message, version);
        var n = Encode(message, version, output.GetSpan(length));
        output.Advance(n);
        return n;
    }

    /// <summary>
    /// Decodes a body. Done: <paramref name="message"/> is set (an <see cref="SccpUnknown"/> for ids not
    /// modelled). InvalidData: the body is too short for the message or a count or address type is out of range.
    /// </summary>
    public static OperationStatus TryDecode(in SccpHeader header, ReadOnlySpan<byte> body, out SccpMessage? message)
    {
        var r = new SccpBodyReader(body);
        var v = header.Version;
        message = header.MessageId switch
        {
            SccpMessageId.KeepAliveReq or SccpMessageId.KeepAliveAck or SccpMessageId.CapabilitiesReq or SccpMessageId.ButtonTemplateReq
                or SccpMessageId.SoftKeyTemplateReq or SccpMessageId.SoftKeySetReq or SccpMessageId.ConfigStatReq or SccpMessageId.TimeDateReq
                => Empty(header.MessageId),
            SccpMessageId.UnregisterReq => new SccpValue(header.MessageId, body.Length >= 4 ? r.U32() : 0),
            SccpMessageId.IpPort or SccpMessageId.LineStatReq or SccpMessageId.HeadsetStatus or SccpMessageId.RegisterAvailableLines
                or SccpMessageId.Reset or SccpMessageId.UnregisterAck
                => new SccpValue(header.MessageId, r.U32()),
            SccpMessageId.RegisterReq => SccpRegister.Read(ref r, body.Length),
            SccpMessageId.RegisterAck => SccpRegisterAck.Read(ref r),
            SccpMessageId.RegisterReject => new SccpText(header.MessageId, r.Text(32)),
            SccpMessageId.DisplayNotify => new SccpDisplayNotify(r.U32(), r.Text(32)),
            SccpMessageId.CapabilitiesRes => SccpCapabilitiesRes.Read(ref r),
            SccpMessageId.KeypadButton => new SccpKeypadButton(r.U32(), body.Length >= 8 ? r.U32() : 0, body.Length >= 12 ? r.U32() : 0),
            SccpMessageId.OffHook or SccpMessageId.OnHook => new SccpHook(header.MessageId, body.Length >= 4 ? r.U32() : 0, body.Length >= 8 ? r.U32() : 0),
            SccpMessageId.StopMediaTransmission or SccpMessageId.CloseReceiveChannel
                => new SccpMediaStop(header.MessageId, r.U32(), r.U32(), r.U32(), body.Length >= 16 ? r.U32() : 0),
            SccpMessageId.CallState => new SccpCallState(r.U32(), r.U32(), r.U32(), r.U32(), r.U32(), r.U32()),
            SccpMessageId.OpenReceiveChannel => SccpOpenReceiveChannel.Read(ref r, v, body.Length),
            SccpMessageId.OpenReceiveChannelAck => SccpOpenReceiveChannelAck.Read(ref r, v),
            SccpMessageId.StartMediaTransmission => SccpStartMediaTransmission.Read(ref r, v),
            SccpMessageId.StartMediaTransmissionAck => SccpStartMediaTransmissionAck.Read(ref r, v),
            SccpMessageId.LineStatRes => SccpLineStatRes.Read(ref r),
            SccpMessageId.StartTone => SccpStartTone.Read(ref r),
            SccpMessageId.StopTone => new SccpStopTone(r.U32(), r.U32()),
            SccpMessageId.SetRinger => SccpSetRinger.Read(ref r),
            SccpMessageId.CallInfo => SccpCallInfo.Read(ref r),
            SccpMessageId.ConfigStatRes => SccpConfigStatRes.Read(ref r),
            SccpMessageId.TimeDateRes => SccpTimeDateRes.Read(ref r),
            SccpMessageId.ButtonTemplateRes => SccpButtonTemplateRes.Read(ref r),
            SccpMessageId.SoftKeyTemplateRes => SccpSoftKeyTemplateRes.Read(ref r),
            SccpMessageId.SoftKeySetRes => SccpSoftKeySetRes.Read(ref r),
            _ => new SccpUnknown(header.MessageId, body.Length),
        };

        if (message is null || !r.Ok)
        {
            message = null;
            return OperationStatus.InvalidData;
        }

        return OperationStatus.Done;
    }

    /// <summary>Decodes a body that may span segments (copied to a stack buffer; bodies are bounded by the frame limit).</summary>
    public static OperationStatus TryDecode(in SccpHeader header, in ReadOnlySequence<byte> body, out SccpMessage? message)
    {
        if (body.IsSingleSegment)
        {
            return TryDecode(header, body.FirstSpan, out message);
        }

        var length = (int)body.Length;
        var rented = length > 1024 ? ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            Span<byte> copy = rented is null ? stackalloc byte[1024] : rented;
            copy = copy[..length];
            body.CopyTo(copy);
            return TryDecode(header, copy, out message);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Reads and decodes the next message of a stream (framing errors and body errors are both InvalidData).</summary>
    public static OperationStatus TryRead(ref SequenceReader<byte> reader, int maxDataLength, out SccpHeader header, out SccpMessage? message)
    {
        message = null;
        var status = SccpFraming.TryReadFrame(ref reader, maxDataLength, out header, out var body);
        return status != OperationStatus.Done ? status : TryDecode(header, body, out message);
    }

    private static SccpEmpty Empty(uint id) => id switch
    {
        SccpMessageId.KeepAliveReq => SccpEmpty.KeepAliveReq,
        SccpMessageId.KeepAliveAck => SccpEmpty.KeepAliveAck,
        SccpMessageId.CapabilitiesReq => SccpEmpty.CapabilitiesReq,
        SccpMessageId.ButtonTemplateReq => SccpEmpty.ButtonTemplateReq,
        SccpMessageId.SoftKeyTemplateReq => SccpEmpty.SoftKeyTemplateReq,
        SccpMessageId.SoftKeySetReq => SccpEmpty.SoftKeySetReq,
        SccpMessageId.ConfigStatReq => SccpEmpty.ConfigStatReq,
        SccpMessageId.TimeDateReq => SccpEmpty.TimeDateReq,
        _ => new SccpEmpty(id),
    };
}
