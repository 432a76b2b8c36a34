using System.Buffers;
using System.Text;
using CucmSim.Protocols.Snmp;

namespace CucmSim.Protocols.Tests.Snmp;

public sealed class SnmpCodecTests
{
    /// <summary>The SNMPv2-Trap of the golden capture trap.pcapng (frame 1): ccmPhoneStatusUpdate with sysUpTime 12345.</summary>
    private static readonly byte[] GoldenTrap = Convert.FromHexString(
        "304402010104067075626c6963a7370201010201000201003" +
        "02c300e06082b06010201010300430230393" +
        "01a060a2b06010603010104010006" +
        "0c2b060104010909811c020003");

    [Fact]
    public void Golden_trap_decodes_and_reencodes_byte_for_byte()
    {
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(GoldenTrap, out var message));
        Assert.Equal(SnmpVersion.V2c, message.Version);
        Assert.Equal("public", Encoding.ASCII.GetString(GoldenTrap.AsSpan()[message.Community]));
        var vbs = new VarBind[8];
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(GoldenTrap, message.Pdu, out var pdu, vbs));
        Assert.Equal(PduType.TrapV2, pdu.Type);
        Assert.Equal(1, pdu.RequestId);
        Assert.Equal(2, pdu.VarBindCount);
        Assert.Equal("1.3.6.1.2.1.1.3.0", Name(GoldenTrap, vbs[0]));
        Assert.Equal(12345u, (uint)SnmpValue.Read(GoldenTrap, vbs[0].ValueTag, vbs[0].Value).Number);
        var trapOid = SnmpValue.Read(GoldenTrap, vbs[1].ValueTag, vbs[1].Value);
        Assert.Equal("1.3.6.1.4.1.9.9.156.2.0.3", Ber.FormatOid(trapOid.Oid));

        var buffer = new byte[512];
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.TrapV2, 1, 0, 0,
        [
            new SnmpVarBind("1.3.6.1.2.1.1.3.0", SnmpValue.TimeTicks(12345)),
            new SnmpVarBind("1.3.6.1.6.3.1.1.4.1.0", SnmpValue.ObjectId(Ber.ParseOid("1.3.6.1.4.1.9.9.156.2.0.3"))),
        ]);
        Assert.Equal(Convert.ToHexString(GoldenTrap), Convert.ToHexString(buffer, 0, n));
    }

    [Fact]
    public void Oid_encoding_matches_x690_examples()
    {
        Span<byte> b = stackalloc byte[64];
        var n = Ber.EncodeOid(Ber.ParseOid("1.3.6.1.4.1.9.9.156"), b);
        Assert.Equal("2B06010401090981 1C".Replace(" ", string.Empty, StringComparison.Ordinal), Convert.ToHexString(b[..n]));
        n = Ber.EncodeOid([2, 999, 3, 4294967295], b);
        Span<uint> back = stackalloc uint[8];
        Assert.Equal(4, Ber.DecodeOid(b[..n], back));
        Assert.Equal([2u, 999u, 3u, 4294967295u], back[..4].ToArray());
        Assert.Equal(-1, Ber.DecodeOid([0x2B, 0x80, 0x01], back));            // non-minimal sub-identifier
        Assert.Equal(-1, Ber.DecodeOid([0x2B, 0x86], back));                  // truncated sub-identifier
        Assert.Equal(-1, Ber.DecodeOid([0x2B, 0x90, 0x80, 0x80, 0x80, 0x00], back)); // above 2^32-1
    }

    [Theory]
    [InlineData(0L, "020100")]
    [InlineData(127L, "02017F")]
    [InlineData(128L, "02020080")]
    [InlineData(-1L, "0201FF")]
    [InlineData(-129L, "0202FF7F")]
    [InlineData(int.MaxValue, "02047FFFFFFF")]
    public void Integers_are_minimal_twos_complement(long value, string hex)
    {
        var buffer = new byte[16];
        var w = new BerWriter(buffer);
        w.WriteInteger(value);
        Assert.Equal(hex, Convert.ToHexString(w.Written));
    }

    [Fact]
    public void Unsigned_types_get_a_leading_zero_and_counter64_round_trips()
    {
        var buffer = new byte[16];
        var w = new BerWriter(buffer);
        w.WriteUnsigned(BerTag.Counter32, 0xFFFFFFFF);
        Assert.Equal("410500FFFFFFFF", Convert.ToHexString(w.Written));
        w = new BerWriter(buffer);
        w.WriteUnsigned(BerTag.Counter64, ulong.MaxValue);
        Assert.Equal("460900FFFFFFFFFFFFFFFF", Convert.ToHexString(w.Written));
        Assert.True(Ber.TryDecodeUnsigned(w.Written[2..], 64, out var v));
        Assert.Equal(ulong.MaxValue, v);
        Assert.False(Ber.TryDecodeUnsigned([0x01, 0, 0, 0, 0], 32, out _));
        Assert.False(Ber.TryDecodeUnsigned([0x80], 32, out _));
    }

    [Fact]
    public void Every_pdu_type_and_value_type_round_trips()
    {
        SnmpVarBind[] vbs =
        [
            new("1.3.6.1.2.1.1.1.0", SnmpValue.OctetString("Software:UCOS")),
            new("1.3.6.1.2.1.1.2.0", SnmpValue.ObjectId(Ber.ParseOid("1.3.6.1.4.1.9.1.1348"))),
            new("1.3.6.1.2.1.1.3.0", SnmpValue.TimeTicks(4294967295)),
            new("1.3.6.1.2.1.1.7.0", SnmpValue.Integer(-72)),
            new("1.3.6.1.2.1.4.20.1.1.10.0.0.1", SnmpValue.IpAddress([10, 0, 0, 1])),
            new("1.3.6.1.2.1.11.1.0", SnmpValue.Counter32(123456)),
            new("1.3.6.1.2.1.2.2.1.5.1", SnmpValue.Gauge32(1_000_000_000)),
            new("1.3.6.1.2.1.31.1.1.1.6.1", SnmpValue.Counter64(0x8000_0000_0000_0001)),
            new("1.3.6.1.4.1.9.9.1.0", SnmpValue.Opaque([0x9f, 0x78, 0x04, 0x3f, 0x80, 0, 0])),
            new("1.3.6.1.2.1.1.9.0", SnmpValue.Null),
            new("1.3.6.1.2.1.1.10.0", SnmpValue.NoSuchObject),
            new("1.3.6.1.2.1.1.1.1", SnmpValue.NoSuchInstance),
            new("1.3.6.1.6", SnmpValue.EndOfMibView),
        ];
        foreach (var type in Enum.GetValues<PduType>().Where(t => t != PduType.TrapV1))
        {
            foreach (var version in new[] { SnmpVersion.V1, SnmpVersion.V2c })
            {
                var buffer = new byte[2048];
                var n = SnmpCodec.WriteMessage(buffer, version, "s3cr3t"u8, type, -5, 3, 7, vbs);
                Assert.True(n > 0);
                Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(buffer.AsSpan(0, n), out var m));
                Assert.Equal(version, m.Version);
                var decoded = new VarBind[32];
                Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(buffer.AsSpan(0, n), m.Pdu, out var pdu, decoded));
                Assert.Equal(type, pdu.Type);
                Assert.Equal(-5, pdu.RequestId);
                Assert.Equal(3, pdu.ErrorStatus);
                Assert.Equal(7, pdu.ErrorIndex);
                Assert.Equal(vbs.Length, pdu.VarBindCount);
                for (var i = 0; i < vbs.Length; i++)
                {
                    Assert.Equal(Ber.FormatOid(vbs[i].Oid), Name(buffer, decoded[i]));
                    Assert.Equal(vbs[i].Value.ToString(), SnmpValue.Read(buffer, decoded[i].ValueTag, decoded[i].Value).ToString());
                }
            }
        }
    }

    [Fact]
    public void V1_trap_round_trips()
    {
        var buffer = new byte[256];
        var n = SnmpCodec.WriteTrapV1(buffer, "public"u8, Ber.ParseOid("1.3.6.1.4.1.9.9.156"), [192, 0, 2, 1], 6, 3, 4242, [new SnmpVarBind("1.3.6.1.2.1.1.5.0", SnmpValue.OctetString("cm1"))]);
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(buffer.AsSpan(0, n), out var m));
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(buffer.AsSpan(0, n), m.Pdu, out var pdu, new VarBind[4]));
        Assert.Equal(PduType.TrapV1, pdu.Type);
        Assert.Equal(6, pdu.GenericTrap);
        Assert.Equal(3, pdu.SpecificTrap);
        Assert.Equal(4242, pdu.TimeStamp);
        Assert.Equal(1, pdu.VarBindCount);
    }

    [Fact]
    public void Long_form_lengths_are_minimal_and_decode()
    {
        var buffer = new byte[4096];
        var big = new string('x', 300);
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.Response, 1, 0, 0, [new SnmpVarBind("1.3.6.1.2.1.1.1.0", SnmpValue.OctetString(big))]);
        Assert.Equal(0x82, buffer[1]);
        Assert.Equal(n - 4, (buffer[2] << 8) | buffer[3]);
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(buffer.AsSpan(0, n), out var m));
        var vbs = new VarBind[2];
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(buffer.AsSpan(0, n), m.Pdu, out _, vbs));
        Assert.Equal(big, Encoding.ASCII.GetString(buffer.AsSpan()[vbs[0].Value]));
    }

    [Fact]
    public void Writer_reports_overflow_instead_of_writing_past_the_buffer()
    {
        var buffer = new byte[40];
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.Response, 1, 0, 0, [new SnmpVarBind("1.3.6.1.2.1.1.1.0", SnmpValue.OctetString(new string('x', 100)))]);
        Assert.Equal(-1, n);
    }

    [Fact]
    public void Every_truncation_of_a_valid_message_is_invalid()
    {
        var buffer = new byte[512];
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.GetBulk, 77, 0, 10, [new SnmpVarBind("1.3.6.1.2.1.1", SnmpValue.Null), new SnmpVarBind("1.3.6.1.2.1.2", SnmpValue.Null)]);
        for (var cut = 0; cut < n; cut++)
        {
            Assert.False(DecodesFully(buffer.AsSpan(0, cut)), $"prefix of {cut} bytes decoded");
        }

        Assert.True(DecodesFully(buffer.AsSpan(0, n)));

        // Trailing garbage after the message is invalid too.
        Assert.False(DecodesFully(buffer.AsSpan(0, n + 1)));
    }

    [Fact]
    public void Hostile_lengths_and_forms_are_rejected()
    {
        // Indefinite length (X.690 §8.1.3.6).
        Assert.False(DecodesFully(Convert.FromHexString("3080020101040670756260696300000000")));

        // A length far beyond the datagram.
        Assert.False(DecodesFully(Convert.FromHexString("3084FFFFFFFF020101")));

        // A 5-byte length form.
        Assert.False(DecodesFully(Convert.FromHexString("308500000000050201")));

        // High tag number form.
        Assert.False(DecodesFully(Convert.FromHexString("1F810100")));

        // Version 2 (not an SNMP version).
        Assert.Equal(OperationStatus.InvalidData, SnmpCodec.DecodeMessage(Convert.FromHexString("300b020102040170a0030201ff"), out _));

        // An INTEGER of 9 bytes as request-id.
        var buffer = new byte[128];
        var w = new BerWriter(buffer);
        var m = w.Begin(BerTag.Sequence);
        w.WriteInteger(1);
        w.WriteBytes(BerTag.OctetString, "public"u8);
        var p = w.Begin(0xA0);
        w.WriteBytes(BerTag.Integer, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        w.WriteInteger(0);
        w.WriteInteger(0);
        w.End(w.Begin(BerTag.Sequence));
        w.End(p);
        w.End(m);
        Assert.False(DecodesFully(w.Written));
    }

    [Fact]
    public void Too_many_varbinds_and_deep_nesting_are_rejected()
    {
        var many = Enumerable.Range(0, SnmpLimits.MaxVarBinds + 1).Select(i => new SnmpVarBind($"1.3.6.1.2.1.1.{i}.0", SnmpValue.Null)).ToArray();
        var buffer = new byte[16384];
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.Get, 1, 0, 0, many);
        Assert.False(DecodesFully(buffer.AsSpan(0, n)));

        // A varbind value that is a deeply nested constructed element: only primitive values are allowed.
        var deep = new byte[4096];
        var w = new BerWriter(deep);
        var m = w.Begin(BerTag.Sequence);
        w.WriteInteger(1);
        w.WriteBytes(BerTag.OctetString, "public"u8);
        var p = w.Begin(0xA0);
        w.WriteInteger(1);
        w.WriteInteger(0);
        w.WriteInteger(0);
        var l = w.Begin(BerTag.Sequence);
        var vb = w.Begin(BerTag.Sequence);
        w.WriteOid([1, 3, 6, 1]);
        var marks = new int[500];
        for (var i = 0; i < marks.Length; i++)
        {
            marks[i] = w.Begin(BerTag.Sequence);
        }

        for (var i = marks.Length - 1; i >= 0; i--)
        {
            w.End(marks[i]);
        }

        w.End(vb);
        w.End(l);
        w.End(p);
        w.End(m);
        Assert.False(w.Overflow);
        Assert.False(DecodesFully(w.Written));

        // An OID of 129 sub-identifiers.
        var longOid = Enumerable.Repeat(1u, 129).ToArray();
        longOid[0] = 1;
        longOid[1] = 3;
        Span<byte> content = stackalloc byte[200];
        Assert.Equal(-1, Ber.EncodeOid(longOid, content));
    }

    [Fact]
    public void Random_input_never_throws()
    {
        var random = new Random(161);
        var valid = new byte[256];
        var n = SnmpCodec.WriteMessage(valid, SnmpVersion.V2c, "public"u8, PduType.Get, 9, 0, 0, [new SnmpVarBind("1.3.6.1.2.1.1.1.0", SnmpValue.Null)]);
        for (var i = 0; i < 20_000; i++)
        {
            byte[] data;
            if (i % 2 == 0)
            {
                data = new byte[random.Next(0, 200)];
                random.NextBytes(data);
            }
            else
            {
                // Mutations of a valid message: the likeliest way to reach deep code paths.
                data = valid.AsSpan(0, n).ToArray();
                for (var k = random.Next(1, 4); k > 0; k--)
                {
                    data[random.Next(data.Length)] = (byte)random.Next(256);
                }
            }

            DecodesFully(data);
            if (SnmpCodec.DecodeMessage(data, out var m) == OperationStatus.Done && m.Version == SnmpVersion.V3)
            {
                SnmpCodec.DecodeUsm(data, m.SecurityParameters, out _);
            }
        }
    }

    [Fact]
    public void V3_message_round_trips_with_usm_parameters()
    {
        var buffer = new byte[512];
        var w = new BerWriter(buffer);
        var m = SnmpCodec.BeginV3(ref w, 4711, 65507, 0x07);
        SnmpCodec.WriteUsm(ref w, [0x80, 0, 0, 9, 3, 1, 2, 3, 4, 5, 6], 3, 12345, "labuser"u8, new byte[12], new byte[8]);
        w.WriteBytes(BerTag.OctetString, [1, 2, 3, 4, 5]);
        w.End(m);
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(w.Written, out var msg));
        Assert.Equal(SnmpVersion.V3, msg.Version);
        Assert.Equal(4711, msg.MsgId);
        Assert.Equal(7, msg.MsgFlags);
        Assert.True(msg.Encrypted);
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeUsm(w.Written, msg.SecurityParameters, out var usm));
        Assert.Equal(3, usm.EngineBoots);
        Assert.Equal(12345, usm.EngineTime);
        Assert.Equal("labuser", Encoding.ASCII.GetString(w.Written[usm.UserName]));
        Assert.Equal(12, usm.AuthParameters.End.Value - usm.AuthParameters.Start.Value);
    }

    [Theory]
    [InlineData(SnmpAuth.Sha1)]
    [InlineData(SnmpAuth.Sha256)]
    public void A_signed_v3_message_verifies_and_one_changed_byte_or_a_wrong_key_does_not(SnmpAuth auth)
    {
        var key = Usm.Localize(auth, Usm.PasswordToKey(auth, "authpass1"), [0x80, 0, 0, 9, 3, 1, 2, 3, 4, 5, 6]);
        var scoped = new byte[] { 0x30, 0x03, 0x04, 0x00, 0x04 }; // not decoded here: any bytes of the right shape
        var buffer = new byte[512];
        var length = SnmpCodec.WriteV3(buffer, 4711, 65507, 0x05, [0x80, 0, 0, 9, 3, 1, 2, 3, 4, 5, 6], 1, 77, "a1"u8, Usm.MacLength(auth), [], scoped, [], isEncrypted: false);
        Assert.True(length > 0);
        var message = buffer.AsSpan(0, length).ToArray();
        Assert.True(Usm.Sign(auth, key, message));
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(message, out var m));
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeUsm(message, m.SecurityParameters, out var usm));
        var scratch = new byte[message.Length];
        Assert.True(Usm.Verify(auth, key, message, usm.AuthParameters, scratch));

        var wrongKey = (byte[])key.Clone();
        wrongKey[0] ^= 1;
        Assert.False(Usm.Verify(auth, wrongKey, message, usm.AuthParameters, scratch));
        Assert.False(Usm.Verify(auth == SnmpAuth.Sha1 ? SnmpAuth.Sha256 : SnmpAuth.Sha1, key, message, usm.AuthParameters, scratch));
        message[^1] ^= 1;
        Assert.False(Usm.Verify(auth, key, message, usm.AuthParameters, scratch));
        Assert.False(Usm.Sign(auth, key, new byte[] { 0x30, 0x00 }));
        Assert.Equal(-1, SnmpCodec.WriteV3(new byte[20], 1, 65507, 0x05, new byte[11], 1, 1, "a1"u8, 12, [], scoped, [], isEncrypted: false));
    }

    [Fact]
    public void Usm_keys_match_rfc_3414_appendix_a3()
    {
        // RFC 3414 A.3.2: password "maplesyrup", engine ID 000000000000000000000002, SHA.
        var ku = Usm.PasswordToKey(SnmpAuth.Sha1, "maplesyrup");
        Assert.Equal("9FB5CC0381497B3793528939FF788D5D79145211", Convert.ToHexString(ku));
        var kul = Usm.Localize(SnmpAuth.Sha1, ku, Convert.FromHexString("000000000000000000000002"));
        Assert.Equal("6695FEBC9288E36282235FC7151F128497B38F3F", Convert.ToHexString(kul));
    }

    [Fact]
    public void Aes_cfb_round_trips_any_length()
    {
        var key = new byte[16];
        Random.Shared.NextBytes(key);
        foreach (var length in new[] { 1, 15, 16, 17, 100 })
        {
            var plain = new byte[length];
            Random.Shared.NextBytes(plain);
            var cipher = Usm.AesCfb(true, key, 1, 2, new byte[8], plain);
            Assert.Equal(length, cipher.Length);
            Assert.Equal(plain, Usm.AesCfb(false, key, 1, 2, new byte[8], cipher));
        }
    }

    private static string Name(ReadOnlySpan<byte> data, VarBind vb)
    {
        Span<uint> oid = stackalloc uint[Ber.MaxOidLength];
        var n = Ber.DecodeOid(data[vb.Name], oid);
        return Ber.FormatOid(oid[..n]);
    }

    private static bool DecodesFully(ReadOnlySpan<byte> data)
    {
        if (SnmpCodec.DecodeMessage(data, out var m) != OperationStatus.Done)
        {
            return false;
        }

        if (m.Version == SnmpVersion.V3)
        {
            return true;
        }

        return SnmpCodec.DecodePdu(data, m.Pdu, out _, new VarBind[SnmpLimits.MaxVarBinds]) == OperationStatus.Done;
    }
}
