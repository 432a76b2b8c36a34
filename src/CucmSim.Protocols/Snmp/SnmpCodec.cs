using System.Buffers;

namespace CucmSim.Protocols.Snmp;

/// <summary>msgVersion values (RFC 1157 §4, RFC 1901 §3, RFC 3412 §6).</summary>
public enum SnmpVersion
{
    V1 = 0,
    V2c = 1,
    V3 = 3,
}

/// <summary>PDU tags (RFC 1157 §4.1, RFC 3416 §3).</summary>
public enum PduType : byte
{
    Get = 0xA0,
    GetNext = 0xA1,
    Response = 0xA2,
    Set = 0xA3,
    TrapV1 = 0xA4,
    GetBulk = 0xA5,
    Inform = 0xA6,
    TrapV2 = 0xA7,
    Report = 0xA8,
}

/// <summary>error-status values (RFC 3416 §3).</summary>
public enum SnmpError
{
    NoError = 0,
    TooBig = 1,
    NoSuchName = 2,
    BadValue = 3,
    ReadOnly = 4,
    GenErr = 5,
    NoAccess = 6,
    NotWritable = 17,
    AuthorizationError = 16,
}

/// <summary>One variable binding: ranges of the OID content and of the value content in the decoded span.</summary>
public readonly record struct VarBind(Range Name, byte ValueTag, Range Value);

/// <summary>The outer layer of a message: version, community (v1/v2c) or v3 header data, and where the PDU is.</summary>
public struct SnmpMessage
{
    public SnmpVersion Version;

    /// <summary>v1/v2c community content.</summary>
    public Range Community;

    /// <summary>v1/v2c: the PDU element (tag, length and content).</summary>
    public Range Pdu;

    // v3 (RFC 3412 §6)
    public int MsgId;
    public int MsgMaxSize;
    public byte MsgFlags;
    public int SecurityModel;

    /// <summary>Content of msgSecurityParameters (a USM SEQUENCE for model 3).</summary>
    public Range SecurityParameters;

    /// <summary>Plaintext ScopedPDU element, or default when encrypted.</summary>
    public Range ScopedPdu;

    /// <summary>Content of the encryptedPDU OCTET STRING, or default when plaintext.</summary>
    public Range EncryptedPdu;

    /// <summary>msgData is an encryptedPDU.</summary>
    public bool Encrypted;
}

/// <summary>A decoded PDU (RFC 3416 §3; the v1 Trap-PDU of RFC 1157 §4.1.6).</summary>
public struct Pdu
{
    public PduType Type;
    public int RequestId;

    /// <summary>error-status, or non-repeaters for GetBulk.</summary>
    public int ErrorStatus;

    /// <summary>error-index, or max-repetitions for GetBulk.</summary>
    public int ErrorIndex;

    public int VarBindCount;

    // v1 Trap only
    public Range Enterprise;
    public Range AgentAddress;
    public int GenericTrap;
    public int SpecificTrap;
    public long TimeStamp;

    public readonly int NonRepeaters => ErrorStatus;
    public readonly int MaxRepetitions => ErrorIndex;
}

/// <summary>USM security parameters (RFC 3414 §2.4).</summary>
public struct UsmParameters
{
    public Range EngineId;
    public int EngineBoots;
    public int EngineTime;
    public Range UserName;
    public Range AuthParameters;
    public Range PrivParameters;
}

/// <summary>Limits of the decoder.</summary>
public static class SnmpLimits
{
    /// <summary>Varbinds per PDU accepted; more is treated as malformed.</summary>
    public const int MaxVarBinds = 128;

    /// <summary>Largest message accepted or produced: the largest UDP payload over IPv4 (RFC 3417 §3).</summary>
    public const int MaxMessageSize = 65507;

    public const int MaxEngineIdLength = 32;
    public const int MaxUserNameLength = 32;
}

/// <summary>Decoders and encoders of SNMP messages (RFC 1157, RFC 1901/3416, RFC 3412/3414) over spans.</summary>
public static class SnmpCodec
{
    /// <summary>Decodes the outer message. Ranges refer to <paramref name="data"/>.</summary>
    public static OperationStatus DecodeMessage(ReadOnlySpan<byte> data, out SnmpMessage message)
    {
        message = default;
        if (data.Length > SnmpLimits.MaxMessageSize)
        {
            return OperationStatus.InvalidData;
        }

        var outer = new BerReader(data);
        if (!outer.TryReadSequence(BerTag.Sequence, out var seq) || !outer.AtEnd)
        {
            return OperationStatus.InvalidData;
        }

        if (!seq.TryReadInt32(out var version))
        {
            return OperationStatus.InvalidData;
        }

        if (version is 0 or 1)
        {
            message.Version = (SnmpVersion)version;
            if (!seq.TryReadOctetString(out message.Community))
            {
                return OperationStatus.InvalidData;
            }

            var pduStart = seq.Position;
            if (!seq.TryReadElement(out var tag, out var pduContent) || !seq.AtEnd || tag < 0xA0 || tag > 0xA8)
            {
                return OperationStatus.InvalidData;
            }

            message.Pdu = new Range(pduStart, pduContent.End);
            return OperationStatus.Done;
        }

        if (version != 3)
        {
            message.Version = (SnmpVersion)version;
            return OperationStatus.InvalidData;
        }

        // RFC 3412 §6: SNMPv3Message.
        message.Version = SnmpVersion.V3;
        if (!seq.TryReadSequence(BerTag.Sequence, out var global)
            || !global.TryReadInt32(out message.MsgId)
            || !global.TryReadInt32(out message.MsgMaxSize)
            || !global.TryReadOctetString(out var flags)
            || !global.TryReadInt32(out message.SecurityModel)
            || !global.AtEnd
            || flags.End.Value - flags.Start.Value != 1
            || message.MsgId < 0
            || message.MsgMaxSize < 484
            || !seq.TryReadOctetString(out message.SecurityParameters))
        {
            return OperationStatus.InvalidData;
        }

        message.MsgFlags = data[flags.Start];
        if ((message.MsgFlags & 0x03) == 0x02)
        {
            // RFC 3412 §7.2 step 5: privacy without authentication is invalid.
            return OperationStatus.InvalidData;
        }

        var dataStart = seq.Position;
        if (!seq.TryReadElement(out var dataTag, out var dataContent) || !seq.AtEnd)
        {
            return OperationStatus.InvalidData;
        }

        if (dataTag == BerTag.OctetString)
        {
            message.EncryptedPdu = dataContent;
            message.Encrypted = true;
        }
        else if (dataTag == BerTag.Sequence)
        {
            message.ScopedPdu = new Range(dataStart, dataContent.End);
        }
        else
        {
            return OperationStatus.InvalidData;
        }

        return OperationStatus.Done;
    }

    /// <summary>Decodes USM security parameters (RFC 3414 §2.4) from the content of msgSecurityParameters.</summary>
    public static OperationStatus DecodeUsm(ReadOnlySpan<byte> data, Range securityParameters, out UsmParameters usm)
    {
        usm = default;
        var reader = new BerReader(data[..securityParameters.End.Value], securityParameters.Start.Value);
        if (!reader.TryReadSequence(BerTag.Sequence, out var s) || !reader.AtEnd
            || !s.TryReadOctetString(out usm.EngineId)
            || !s.TryReadInt32(out usm.EngineBoots)
            || !s.TryReadInt32(out usm.EngineTime)
            || !s.TryReadOctetString(out usm.UserName)
            || !s.TryReadOctetString(out usm.AuthParameters)
            || !s.TryReadOctetString(out usm.PrivParameters)
            || !s.AtEnd
            || usm.EngineBoots < 0 || usm.EngineTime < 0
            || Len(usm.EngineId) > SnmpLimits.MaxEngineIdLength
            || Len(usm.UserName) > SnmpLimits.MaxUserNameLength
            || Len(usm.AuthParameters) > 64
            || Len(usm.PrivParameters) > 64)
        {
            return OperationStatus.InvalidData;
        }

        return OperationStatus.Done;
    }

    /// <summary>Decodes a ScopedPDU (RFC 3412 §6): contextEngineID, contextName, PDU element.</summary>
    public static OperationStatus DecodeScopedPdu(ReadOnlySpan<byte> data, Range scopedPdu, out Range contextEngineId, out Range contextName, out Range pdu)
    {
        contextEngineId = contextName = pdu = default;
        var reader = new BerReader(data[..scopedPdu.End.Value], scopedPdu.Start.Value);

        // A decrypted ScopedPDU may carry block padding after the element (RFC 3414 §8.1.1.3), so trailing bytes are allowed here.
        if (!reader.TryReadSequence(BerTag.Sequence, out var s)
            || !s.TryReadOctetString(out contextEngineId)
            || !s.TryReadOctetString(out contextName))
        {
            return OperationStatus.InvalidData;
        }

        var pduStart = s.Position;
        if (!s.TryReadElement(out var tag, out var content)
            || !s.AtEnd
            || tag < 0xA0 || tag > 0xA8
            || Len(contextEngineId) > SnmpLimits.MaxEngineIdLength
            || Len(contextName) > 255)
        {
            return OperationStatus.InvalidData;
        }

        pdu = new Range(pduStart, content.End);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Decodes a PDU element and its varbinds into <paramref name="varBinds"/>. More varbinds than the span
    /// holds, invalid OIDs and values that break their type's rules are invalid data.
    /// </summary>
    public static OperationStatus DecodePdu(ReadOnlySpan<byte> data, Range pduElement, out Pdu pdu, Span<VarBind> varBinds)
    {
        pdu = default;
        var reader = new BerReader(data[..pduElement.End.Value], pduElement.Start.Value);
        if (!reader.TryReadHeader(out var tag, out _) || tag < 0xA0 || tag > 0xA8)
        {
            return OperationStatus.InvalidData;
        }

        pdu.Type = (PduType)tag;
        if (pdu.Type == PduType.TrapV1)
        {
            // RFC 1157 §4.1.6 Trap-PDU.
            if (!reader.TryReadElement(out var et, out pdu.Enterprise) || et != BerTag.Oid || !ValidOid(data[pdu.Enterprise])
                || !reader.TryReadElement(out var at, out pdu.AgentAddress) || at != BerTag.IpAddress || Len(pdu.AgentAddress) != 4
                || !reader.TryReadInt32(out pdu.GenericTrap) || pdu.GenericTrap is < 0 or > 6
                || !reader.TryReadInt32(out pdu.SpecificTrap)
                || !reader.TryReadElement(out var tt, out var ts) || tt != BerTag.TimeTicks || !Ber.TryDecodeUnsigned(data[ts], 32, out var ticks))
            {
                return OperationStatus.InvalidData;
            }

            pdu.TimeStamp = (long)ticks;
        }
        else if (!reader.TryReadInt32(out pdu.RequestId) || !reader.TryReadInt32(out pdu.ErrorStatus) || !reader.TryReadInt32(out pdu.ErrorIndex))
        {
            return OperationStatus.InvalidData;
        }

        if (!reader.TryReadSequence(BerTag.Sequence, out var list) || !reader.AtEnd)
        {
            return OperationStatus.InvalidData;
        }

        var count = 0;
        while (!list.AtEnd)
        {
            if (count >= varBinds.Length
                || !list.TryReadSequence(BerTag.Sequence, out var vb)
                || !vb.TryReadElement(out var nameTag, out var name) || nameTag != BerTag.Oid || !ValidOid(data[name])
                || !vb.TryReadElement(out var valueTag, out var value) || !vb.AtEnd
                || !ValidValue(valueTag, data[value]))
            {
                return OperationStatus.InvalidData;
            }

            varBinds[count++] = new VarBind(name, valueTag, value);
        }

        pdu.VarBindCount = count;
        return OperationStatus.Done;
    }

    /// <summary>True for OID content of 2 to 128 valid sub-identifiers.</summary>
    public static bool ValidOid(ReadOnlySpan<byte> content)
    {
        Span<uint> tmp = stackalloc uint[Ber.MaxOidLength];
        return Ber.DecodeOid(content, tmp) > 0;
    }

    /// <summary>Checks a varbind value against its type (RFC 2578 §7.1, RFC 3416 §3).</summary>
    public static bool ValidValue(byte tag, ReadOnlySpan<byte> content) => tag switch
    {
        BerTag.Integer => Ber.TryDecodeSigned(content, out var v) && v is >= int.MinValue and <= int.MaxValue,
        BerTag.OctetString or BerTag.Opaque => content.Length <= 65535,
        BerTag.Null or BerTag.NoSuchObject or BerTag.NoSuchInstance or BerTag.EndOfMibView => content.Length == 0,
        BerTag.Oid => ValidOid(content),
        BerTag.IpAddress => content.Length == 4,
        BerTag.Counter32 or BerTag.Gauge32 or BerTag.TimeTicks => Ber.TryDecodeUnsigned(content, 32, out _),
        BerTag.Counter64 => Ber.TryDecodeUnsigned(content, 64, out _),
        _ => false,
    };

    /// <summary>Writes a whole v1/v2c message with the given varbinds (traps, tests, the probe client).</summary>
    public static int WriteMessage(Span<byte> destination, SnmpVersion version, ReadOnlySpan<byte> community, PduType type, int requestId, int errorStatus, int errorIndex, ReadOnlySpan<SnmpVarBind> varBinds)
    {
        var w = new BerWriter(destination);
        var m = w.Begin(BerTag.Sequence);
        w.WriteInteger((int)version);
        w.WriteBytes(BerTag.OctetString, community);
        WritePdu(ref w, type, requestId, errorStatus, errorIndex, varBinds);
        w.End(m);
        return w.Overflow ? -1 : w.Length;
    }

    /// <summary>Writes a PDU element (not for the v1 Trap; see <see cref="WriteTrapV1"/>).</summary>
    public static void WritePdu(ref BerWriter w, PduType type, int requestId, int errorStatus, int errorIndex, scoped ReadOnlySpan<SnmpVarBind> varBinds)
    {
        var p = w.Begin((byte)type);
        w.WriteInteger(requestId);
        w.WriteInteger(errorStatus);
        w.WriteInteger(errorIndex);
        WriteVarBinds(ref w, varBinds);
        w.End(p);
    }

    /// <summary>The VarBindList: a SEQUENCE of SEQUENCE { name, value } (RFC 3416 §3).</summary>
    private static void WriteVarBinds(ref BerWriter w, scoped ReadOnlySpan<SnmpVarBind> varBinds)
    {
        var list = w.Begin(BerTag.Sequence);
        foreach (var vb in varBinds)
        {
            var binding = w.Begin(BerTag.Sequence);
            w.WriteOid(vb.Oid);
            vb.Value.Write(ref w);
            w.End(binding);
        }

        w.End(list);
    }

    /// <summary>Writes an SNMPv1 Trap message (RFC 1157 §4.1.6).</summary>
    public static int WriteTrapV1(Span<byte> destination, ReadOnlySpan<byte> community, ReadOnlySpan<uint> enterprise, ReadOnlySpan<byte> agentAddress, int generic, int specific, uint timeStamp, ReadOnlySpan<SnmpVarBind> varBinds)
    {
        var w = new BerWriter(destination);
        var m = w.Begin(BerTag.Sequence);
        w.WriteInteger(0);
        w.WriteBytes(BerTag.OctetString, community);
        var p = w.Begin((byte)PduType.TrapV1);
        w.WriteOid(enterprise);
        w.WriteBytes(BerTag.IpAddress, agentAddress);
        w.WriteInteger(generic);
        w.WriteInteger(specific);
        w.WriteUnsigned(BerTag.TimeTicks, timeStamp);
        WriteVarBinds(ref w, varBinds);
        w.End(p);
        w.End(m);
        return w.Overflow ? -1 : w.Length;
    }

    /// <summary>Writes the USM security parameters SEQUENCE (RFC 3414 §2.4) as the content of msgSecurityParameters.</summary>
    public static void WriteUsm(ref BerWriter w, scoped ReadOnlySpan<byte> engineId, int boots, int time, scoped ReadOnlySpan<byte> userName, scoped ReadOnlySpan<byte> authParameters, scoped ReadOnlySpan<byte> privParameters)
    {
        var o = w.Begin(BerTag.OctetString);
        var s = w.Begin(BerTag.Sequence);
        w.WriteBytes(BerTag.OctetString, engineId);
        w.WriteInteger(boots);
        w.WriteInteger(time);
        w.WriteBytes(BerTag.OctetString, userName);
        w.WriteBytes(BerTag.OctetString, authParameters);
        w.WriteBytes(BerTag.OctetString, privParameters);
        w.End(s);
        w.End(o);
    }

    /// <summary>Writes msgVersion 3 and msgGlobalData (RFC 3412 §6); the caller then writes the security parameters and data, and ends the returned mark.</summary>
    public static int BeginV3(ref BerWriter w, int msgId, int maxSize, byte flags)
    {
        var m = w.Begin(BerTag.Sequence);
        w.WriteInteger(3);
        var g = w.Begin(BerTag.Sequence);
        w.WriteInteger(msgId);
        w.WriteInteger(maxSize);
        Span<byte> f = [flags];
        w.WriteBytes(BerTag.OctetString, f);
        w.WriteInteger(3);
        w.End(g);
        return m;
    }

    /// <summary>
    /// Writes a whole SNMPv3 message around a scoped PDU (plaintext) or its <paramref name="encrypted"/> form, with
    /// <paramref name="macLength"/> zero bytes as the authentication parameters (sign it afterwards with
    /// <see cref="Usm.Sign"/>) and <paramref name="salt"/> as the privacy parameters. -1 when it does not fit.
    /// </summary>
    public static int WriteV3(Span<byte> destination, int msgId, int maxSize, byte flags, ReadOnlySpan<byte> engineId, int boots, int time, ReadOnlySpan<byte> userName,
        int macLength, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> scopedPdu, ReadOnlySpan<byte> encrypted, bool isEncrypted)
    {
        Span<byte> zeros = stackalloc byte[32];
        zeros.Clear();
        var w = new BerWriter(destination);
        var m = BeginV3(ref w, msgId, maxSize, flags);
        WriteUsm(ref w, engineId, boots, time, userName, zeros[..macLength], isEncrypted ? salt : []);
        if (isEncrypted)
        {
            w.WriteBytes(BerTag.OctetString, encrypted);
        }
        else
        {
            w.WriteRaw(scopedPdu);
        }

        w.End(m);
        return w.Overflow ? -1 : w.Length;
    }

    private static int Len(Range r) => r.End.Value - r.Start.Value;
}
