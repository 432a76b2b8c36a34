using System.Formats.Asn1;
using System.Text;

namespace CucmSim.Protocols.Ldap;

/// <summary>
/// A search filter (RFC 4511 §4.5.1.7). Read from BER with a depth cap and an element cap (a filter nested a
/// thousand deep, or with a million terms, is refused before it is evaluated), written to BER, and read from and
/// written as the string form of RFC 4515 for clients, tests and the ledger.
/// </summary>
public abstract record LdapFilter
{
    /// <summary>Nesting deeper than this is refused (real clients stay within a handful).</summary>
    public const int MaxDepth = 16;

    /// <summary>Filter elements (terms and operators) per request.</summary>
    public const int MaxElements = 256;

    /// <summary>Reads a filter from BER; throws <see cref="AsnContentException"/> or <see cref="LdapCodecException"/> when it is malformed or over the caps.</summary>
    public static LdapFilter Read(AsnReader reader)
    {
        var count = 0;
        return Read(reader, 0, ref count);
    }

    private static LdapFilter Read(AsnReader reader, int depth, ref int count)
    {
        if (depth >= MaxDepth)
        {
            throw new LdapCodecException($"filter nested deeper than {MaxDepth}");
        }

        if (++count > MaxElements)
        {
            throw new LdapCodecException($"filter of more than {MaxElements} elements");
        }

        var tag = reader.PeekTag();
        if (tag.TagClass != TagClass.ContextSpecific)
        {
            throw new LdapCodecException("filter choice is not context-specific");
        }

        switch (tag.TagValue)
        {
            case 0 or 1:
                var set = reader.ReadSetOf(tag);
                var items = new List<LdapFilter>();
                while (set.HasData)
                {
                    items.Add(Read(set, depth + 1, ref count));
                }

                return tag.TagValue == 0 ? new LdapAnd(items) : new LdapOr(items);
            case 2:
                var inner = reader.ReadSequence(tag);
                var not = new LdapNot(Read(inner, depth + 1, ref count));
                inner.ThrowIfNotEmpty();
                return not;
            case 3 or 5 or 6 or 8:
                var ava = reader.ReadSequence(tag);
                var type = LdapCodec.ReadString(ava);
                var value = LdapCodec.ReadString(ava);
                ava.ThrowIfNotEmpty();
                return new LdapCompare((LdapMatch)tag.TagValue, type, value);
            case 4:
                return ReadSubstrings(reader.ReadSequence(tag));
            case 7:
                return new LdapPresent(LdapCodec.ReadString(reader, tag));
            case 9:
                reader.ReadEncodedValue();
                return new LdapUnsupportedFilter("extensibleMatch");
            default:
                throw new LdapCodecException($"unknown filter choice [{tag.TagValue}]");
        }
    }

    private static LdapSubstrings ReadSubstrings(AsnReader sequence)
    {
        var type = LdapCodec.ReadString(sequence);
        var parts = sequence.ReadSequence();
        sequence.ThrowIfNotEmpty();
        string? initial = null;
        string? final = null;
        var any = new List<string>();
        while (parts.HasData)
        {
            var tag = parts.PeekTag();
            var text = LdapCodec.ReadString(parts, tag);
            switch (tag.TagValue)
            {
                case 0 when initial is null && any.Count == 0 && final is null:
                    initial = text;
                    break;
                case 1 when final is null:
                    any.Add(text);
                    break;
                case 2 when final is null:
                    final = text;
                    break;
                default:
                    throw new LdapCodecException("substrings out of order (initial, any, final)");
            }

            if (any.Count > MaxElements)
            {
                throw new LdapCodecException("too many substrings");
            }
        }

        if (initial is null && final is null && any.Count == 0)
        {
            throw new LdapCodecException("substrings filter with no substring");
        }

        return new LdapSubstrings(type, initial, any, final);
    }

    /// <summary>Writes the filter as BER.</summary>
    public abstract void Write(AsnWriter writer);

    /// <summary>The RFC 4515 string form.</summary>
    public abstract override string ToString();

    /// <summary>Parses the RFC 4515 string form ("(&amp;(objectClass=person)(uid=j*))"); throws <see cref="FormatException"/>.</summary>
    public static LdapFilter Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var at = 0;
        var trimmed = text.Trim();
        if (!trimmed.StartsWith('('))
        {
            trimmed = "(" + trimmed + ")";
        }

        var filter = ParseItem(trimmed, ref at, 0);
        if (at != trimmed.Length)
        {
            throw new FormatException($"trailing text in filter at {at}");
        }

        return filter;
    }

    private static LdapFilter ParseItem(string s, ref int at, int depth)
    {
        if (depth >= MaxDepth || at >= s.Length || s[at] != '(')
        {
            throw new FormatException($"expected '(' at {at}");
        }

        at++;
        LdapFilter result;
        if (at < s.Length && s[at] is '&' or '|' or '!')
        {
            var op = s[at++];
            var items = new List<LdapFilter>();
            while (at < s.Length && s[at] == '(')
            {
                items.Add(ParseItem(s, ref at, depth + 1));
            }

            result = op switch
            {
                '&' => new LdapAnd(items),
                '|' => new LdapOr(items),
                _ => items.Count == 1 ? new LdapNot(items[0]) : throw new FormatException("'!' takes one filter"),
            };
        }
        else
        {
            var end = s.IndexOf(')', at);
            if (end < 0)
            {
                throw new FormatException("unterminated filter");
            }

            result = ParseSimple(s[at..end]);
            at = end;
        }

        if (at >= s.Length || s[at] != ')')
        {
            throw new FormatException($"expected ')' at {at}");
        }

        at++;
        return result;
    }

    private static LdapFilter ParseSimple(string item)
    {
        var eq = item.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new FormatException($"no '=' in ({item})");
        }

        var (type, match) = item[eq - 1] switch
        {
            '>' => (item[..(eq - 1)], LdapMatch.GreaterOrEqual),
            '<' => (item[..(eq - 1)], LdapMatch.LessOrEqual),
            '~' => (item[..(eq - 1)], LdapMatch.Approximate),
            _ => (item[..eq], LdapMatch.Equality),
        };
        var value = item[(eq + 1)..];
        if (match != LdapMatch.Equality || !value.Contains('*', StringComparison.Ordinal))
        {
            return new LdapCompare(match, type, Unescape(value));
        }

        if (value == "*")
        {
            return new LdapPresent(type);
        }

        var parts = value.Split('*');
        return new LdapSubstrings(
            type,
            parts[0].Length > 0 ? Unescape(parts[0]) : null,
            parts[1..^1].Where(p => p.Length > 0).Select(Unescape).ToList(),
            parts[^1].Length > 0 ? Unescape(parts[^1]) : null);
    }

    /// <summary>RFC 4515 §3: "\2a" is one escaped byte (UTF-8).</summary>
    private static string Unescape(string value)
    {
        if (!value.Contains('\\', StringComparison.Ordinal))
        {
            return value;
        }

        var bytes = new List<byte>();
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '\\' && i + 2 < value.Length)
            {
                bytes.Add(Convert.ToByte(value.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(value[i].ToString()));
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>RFC 4515 §3 escaping of a value in the string form.</summary>
    protected static string Escape(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            _ = c switch
            {
                '*' => sb.Append("\\2a"),
                '(' => sb.Append("\\28"),
                ')' => sb.Append("\\29"),
                '\\' => sb.Append("\\5c"),
                '\0' => sb.Append("\\00"),
                _ => sb.Append(c),
            };
        }

        return sb.ToString();
    }
}

/// <summary>The attribute-value assertion kinds, by their filter choice number.</summary>
public enum LdapMatch
{
    Equality = 3,
    GreaterOrEqual = 5,
    LessOrEqual = 6,
    Approximate = 8,
}

public sealed record LdapAnd(IReadOnlyList<LdapFilter> Items) : LdapFilter
{
    public override void Write(AsnWriter writer) => WriteSet(writer, 0, Items);

    public override string ToString() => "(&" + string.Concat(Items) + ")";

    internal static void WriteSet(AsnWriter writer, int choice, IReadOnlyList<LdapFilter> items)
    {
        using (writer.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, choice, true)))
        {
            foreach (var item in items)
            {
                item.Write(writer);
            }
        }
    }
}

public sealed record LdapOr(IReadOnlyList<LdapFilter> Items) : LdapFilter
{
    public override void Write(AsnWriter writer) => LdapAnd.WriteSet(writer, 1, Items);

    public override string ToString() => "(|" + string.Concat(Items) + ")";
}

public sealed record LdapNot(LdapFilter Item) : LdapFilter
{
    public override void Write(AsnWriter writer)
    {
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, true)))
        {
            Item.Write(writer);
        }
    }

    public override string ToString() => "(!" + Item + ")";
}

public sealed record LdapCompare(LdapMatch Match, string Type, string Value) : LdapFilter
{
    public override void Write(AsnWriter writer)
    {
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, (int)Match, true)))
        {
            LdapCodec.WriteString(writer, Type);
            LdapCodec.WriteString(writer, Value);
        }
    }

    public override string ToString() => "(" + Type + Match switch
    {
        LdapMatch.GreaterOrEqual => ">=",
        LdapMatch.LessOrEqual => "<=",
        LdapMatch.Approximate => "~=",
        _ => "=",
    } + Escape(Value) + ")";
}

public sealed record LdapSubstrings(string Type, string? Initial, IReadOnlyList<string> Any, string? Final) : LdapFilter
{
    public override void Write(AsnWriter writer)
    {
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4, true)))
        {
            LdapCodec.WriteString(writer, Type);
            using (writer.PushSequence())
            {
                if (Initial is not null)
                {
                    LdapCodec.WriteString(writer, Initial, new Asn1Tag(TagClass.ContextSpecific, 0));
                }

                foreach (var any in Any)
                {
                    LdapCodec.WriteString(writer, any, new Asn1Tag(TagClass.ContextSpecific, 1));
                }

                if (Final is not null)
                {
                    LdapCodec.WriteString(writer, Final, new Asn1Tag(TagClass.ContextSpecific, 2));
                }
            }
        }
    }

    public override string ToString() =>
        "(" + Type + "=" + (Initial is null ? string.Empty : Escape(Initial)) + "*" + string.Concat(Any.Select(a => Escape(a) + "*")) + (Final is null ? string.Empty : Escape(Final)) + ")";
}

public sealed record LdapPresent(string Type) : LdapFilter
{
    public override void Write(AsnWriter writer) => LdapCodec.WriteString(writer, Type, new Asn1Tag(TagClass.ContextSpecific, 7));

    public override string ToString() => "(" + Type + "=*)";
}

/// <summary>A well-formed filter choice that is not evaluated (extensibleMatch): the search is refused with unwillingToPerform.</summary>
public sealed record LdapUnsupportedFilter(string Kind) : LdapFilter
{
    public override void Write(AsnWriter writer) => throw new NotSupportedException($"{Kind} is not written by this codec");

    public override string ToString() => "(" + Kind + ")";
}
