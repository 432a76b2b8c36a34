using CucmSim.Protocols.Snmp;

namespace CucmSim.Serve.Snmp;

/// <summary>One object instance: its OID (as sub-identifiers and as encoded content) and a constant or live value.</summary>
internal sealed class MibEntry
{
    public MibEntry(uint[] oid, SnmpValue value)
        : this(oid, value.Tag, null)
    {
        Constant = value;
        var w = new BerWriter(new byte[(value.Bytes?.Length ?? 0) + Ber.MaxOidContent + 16]);
        value.Write(ref w);
        Encoded = w.Written.ToArray();
    }

    public MibEntry(uint[] oid, byte type, Func<SnmpValue>? live)
    {
        Oid = oid;
        Type = type;
        Live = live;
        Span<byte> tmp = stackalloc byte[Ber.MaxOidContent];
        var n = Ber.EncodeOid(oid, tmp);
        OidContent = tmp[..n].ToArray();
    }

    public uint[] Oid { get; }
    public byte[] OidContent { get; }
    public byte Type { get; }

    /// <summary>The whole value element for constants.</summary>
    public byte[]? Encoded { get; }

    public Func<SnmpValue>? Live { get; }

    public SnmpValue Constant { get; }

    public void WriteValue(ref BerWriter w)
    {
        if (Encoded is not null)
        {
            w.WriteRaw(Encoded);
        }
        else
        {
            Live!().Write(ref w);
        }
    }

    public SnmpValue Read() => Live?.Invoke() ?? Constant;
}

/// <summary>An immutable MIB view sorted in the lexicographic OID order of RFC 3416 §4.2.2.</summary>
internal sealed class MibView
{
    private readonly MibEntry[] _entries;

    public MibView(IEnumerable<MibEntry> entries)
    {
        _entries = [.. entries];
        Array.Sort(_entries, (a, b) => Ber.Compare(a.Oid, b.Oid));
        for (var i = 1; i < _entries.Length; i++)
        {
            if (Ber.Compare(_entries[i - 1].Oid, _entries[i].Oid) == 0)
            {
                throw new InvalidOperationException($"duplicate OID {Ber.FormatOid(_entries[i].Oid)}");
            }
        }
    }

    public int Count => _entries.Length;

    public MibEntry this[int index] => _entries[index];

    public IReadOnlyList<MibEntry> Entries => _entries;

    /// <summary>Index of the exact instance, or the bitwise complement of where it would be.</summary>
    public int Find(ReadOnlySpan<uint> oid)
    {
        int lo = 0, hi = _entries.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var c = Ber.Compare(_entries[mid].Oid, oid);
            if (c == 0)
            {
                return mid;
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return ~lo;
    }

    /// <summary>Index of the first instance after <paramref name="oid"/> (GetNext, RFC 3416 §4.2.2), or -1 at the end of the view.</summary>
    public int FindNext(ReadOnlySpan<uint> oid)
    {
        var i = Find(oid);
        var next = i >= 0 ? i + 1 : ~i;
        return next < _entries.Length ? next : -1;
    }

    /// <summary>
    /// For a Get that found nothing (RFC 3416 §4.2.1): noSuchInstance when the object type exists (a
    /// neighbouring instance of the same length shares every sub-identifier but the last), else noSuchObject.
    /// </summary>
    public byte MissingKind(ReadOnlySpan<uint> oid, int insertionPoint)
    {
        if (oid.Length < 2)
        {
            return BerTag.NoSuchObject;
        }

        var prefix = oid[..^1];
        foreach (var i in (ReadOnlySpan<int>)[insertionPoint - 1, insertionPoint])
        {
            if (i >= 0 && i < _entries.Length && _entries[i].Oid.Length == oid.Length && _entries[i].Oid.AsSpan(0, prefix.Length).SequenceEqual(prefix))
            {
                return BerTag.NoSuchInstance;
            }
        }

        return BerTag.NoSuchObject;
    }
}
