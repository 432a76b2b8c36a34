using System.Text;

namespace CucmSim.Protocols.Snmp;

/// <summary>
/// A varbind value (RFC 3416 §3 ObjectSyntax plus the v2 exceptions). Numbers live in <see cref="Number"/>
/// (two's complement for INTEGER), strings, Opaque and IpAddress in <see cref="Bytes"/>, OIDs in <see cref="Oid"/>.
/// </summary>
public readonly record struct SnmpValue(byte Tag, long Number, byte[]? Bytes, uint[]? Oid)
{
    public static SnmpValue Null => new(BerTag.Null, 0, null, null);
    public static SnmpValue NoSuchObject => new(BerTag.NoSuchObject, 0, null, null);
    public static SnmpValue NoSuchInstance => new(BerTag.NoSuchInstance, 0, null, null);
    public static SnmpValue EndOfMibView => new(BerTag.EndOfMibView, 0, null, null);

    public static SnmpValue Integer(int value) => new(BerTag.Integer, value, null, null);
    public static SnmpValue OctetString(byte[] value) => new(BerTag.OctetString, 0, value, null);
    public static SnmpValue OctetString(string value) => new(BerTag.OctetString, 0, Encoding.UTF8.GetBytes(value), null);
    public static SnmpValue ObjectId(uint[] value) => new(BerTag.Oid, 0, null, value);
    public static SnmpValue IpAddress(byte[] value) => new(BerTag.IpAddress, 0, value, null);
    public static SnmpValue Counter32(uint value) => new(BerTag.Counter32, value, null, null);
    public static SnmpValue Gauge32(uint value) => new(BerTag.Gauge32, value, null, null);
    public static SnmpValue TimeTicks(uint value) => new(BerTag.TimeTicks, value, null, null);
    public static SnmpValue Counter64(ulong value) => new(BerTag.Counter64, unchecked((long)value), null, null);
    public static SnmpValue Opaque(byte[] value) => new(BerTag.Opaque, 0, value, null);

    public ulong Unsigned => unchecked((ulong)Number);

    public bool IsException => Tag is BerTag.NoSuchObject or BerTag.NoSuchInstance or BerTag.EndOfMibView;

    /// <summary>Reads a value whose content range was validated by <see cref="SnmpCodec.DecodePdu"/>.</summary>
    public static SnmpValue Read(ReadOnlySpan<byte> data, byte tag, Range content)
    {
        var c = data[content];
        switch (tag)
        {
            case BerTag.Integer:
                Ber.TryDecodeSigned(c, out var v);
                return new SnmpValue(tag, v, null, null);
            case BerTag.Counter32 or BerTag.Gauge32 or BerTag.TimeTicks or BerTag.Counter64:
                Ber.TryDecodeUnsigned(c, 64, out var u);
                return new SnmpValue(tag, unchecked((long)u), null, null);
            case BerTag.Oid:
                Span<uint> tmp = stackalloc uint[Ber.MaxOidLength];
                var n = Ber.DecodeOid(c, tmp);
                return new SnmpValue(tag, 0, null, n > 0 ? tmp[..n].ToArray() : []);
            case BerTag.Null or BerTag.NoSuchObject or BerTag.NoSuchInstance or BerTag.EndOfMibView:
                return new SnmpValue(tag, 0, null, null);
            default:
                return new SnmpValue(tag, 0, c.ToArray(), null);
        }
    }

    public void Write(ref BerWriter w)
    {
        switch (Tag)
        {
            case BerTag.Integer:
                w.WriteInteger(Number);
                break;
            case BerTag.Counter32 or BerTag.Gauge32 or BerTag.TimeTicks or BerTag.Counter64:
                w.WriteUnsigned(Tag, Unsigned);
                break;
            case BerTag.Oid:
                w.WriteOid(Oid ?? []);
                break;
            case BerTag.Null or BerTag.NoSuchObject or BerTag.NoSuchInstance or BerTag.EndOfMibView:
                w.WriteNull(Tag);
                break;
            default:
                w.WriteBytes(Tag, Bytes ?? []);
                break;
        }
    }

    public override string ToString() => Tag switch
    {
        BerTag.Integer => $"INTEGER: {Number}",
        BerTag.OctetString => $"STRING: {Encoding.UTF8.GetString(Bytes ?? [])}",
        BerTag.Oid => $"OID: {Ber.FormatOid(Oid ?? [])}",
        BerTag.IpAddress => $"IpAddress: {string.Join('.', Bytes ?? [])}",
        BerTag.Counter32 => $"Counter32: {Unsigned}",
        BerTag.Gauge32 => $"Gauge32: {Unsigned}",
        BerTag.TimeTicks => $"Timeticks: ({Unsigned})",
        BerTag.Counter64 => $"Counter64: {Unsigned}",
        BerTag.Null => "NULL",
        BerTag.NoSuchObject => "noSuchObject",
        BerTag.NoSuchInstance => "noSuchInstance",
        BerTag.EndOfMibView => "endOfMibView",
        _ => $"0x{Tag:x2}: {Convert.ToHexString(Bytes ?? [])}",
    };
}

/// <summary>A varbind with its value materialized.</summary>
public readonly record struct SnmpVarBind(uint[] Oid, SnmpValue Value)
{
    public SnmpVarBind(string oid, SnmpValue value)
        : this(Ber.ParseOid(oid), value)
    {
    }
}
