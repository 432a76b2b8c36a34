using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Ssh;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Ssh;

public sealed class SshCodecTests
{
    private static readonly byte[] OpenSshLine = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n"u8.ToArray();

    private static byte[] Packet(byte[] payload)
    {
        var output = new ArrayBufferWriter<byte>();
        SshPacket.Write(output, payload);
        return output.WrittenSpan.ToArray();
    }

    private static SshKexInit Offer() => SshKexInit.Offer(
        ["curve25519-sha256", SshEcdsaKex.KexAlgorithm, "kex-strict-c-v00@openssh.com"], ["ssh-ed25519", SshEcdsaKex.HostKeyAlgorithm],
        ["chacha20-poly1305@openssh.com", "aes128-ctr"], ["hmac-sha2-256"], ["none", "zlib@openssh.com"]);

    [Fact]
    public void Identification_is_read_across_every_split_with_its_parts()
    {
        foreach (var sequence in Segments.AllSplits(OpenSshLine).Append(Segments.ByteAtATime(OpenSshLine)))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(OperationStatus.Done, SshIdentification.TryRead(ref reader, skipPreamble: false, out var version, out _));
            Assert.Equal(("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", "2.0", "OpenSSH_9.2p1", "Debian-2+deb12u6"), (version!.Line, version.ProtocolVersion, version.Software, version.Comments));
            Assert.True(version.IsVersion2);
            Assert.True(reader.End);
        }

        // A bare LF is taken (OpenSSH does); 1.99 is version 2; 1.5 is not.
        var lf = new SequenceReader<byte>(Segments.Of("SSH-1.99-Cisco-1.25\n"u8.ToArray()));
        Assert.Equal(OperationStatus.Done, SshIdentification.TryRead(ref lf, false, out var cisco, out _));
        Assert.Equal(("1.99", "Cisco-1.25", true), (cisco!.ProtocolVersion, cisco.Software, cisco.IsVersion2));
        var old = new SequenceReader<byte>(Segments.Of("SSH-1.5-old\r\n"u8.ToArray()));
        Assert.Equal(OperationStatus.Done, SshIdentification.TryRead(ref old, false, out var v1, out _));
        Assert.False(v1!.IsVersion2);
        Assert.Equal("SSH-2.0-OpenSSH_7.4\r\n"u8.ToArray(), SshIdentification.Format("OpenSSH_7.4"));
    }

    [Fact]
    public void A_server_may_send_lines_before_its_identification_a_client_may_not()
    {
        var bytes = Encoding.ASCII.GetBytes("Authorized users only\r\n\r\nSSH is here\r\nSSH-2.0-OpenSSH_7.4\r\nrest");
        foreach (var sequence in Segments.AllSplits(bytes))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(OperationStatus.Done, SshIdentification.TryRead(ref reader, skipPreamble: true, out var version, out _));
            Assert.Equal("OpenSSH_7.4", version!.Software);
            Assert.Equal("rest"u8.ToArray(), reader.UnreadSequence.ToArray());
        }

        var client = new SequenceReader<byte>(Segments.Of(bytes));
        Assert.Equal(OperationStatus.InvalidData, SshIdentification.TryRead(ref client, skipPreamble: false, out _, out var error));
        Assert.Equal("not an SSH identification string", error);

        // Invalid as soon as visible: one wrong byte.
        var early = new SequenceReader<byte>(Segments.Of("G"u8.ToArray()));
        Assert.Equal(OperationStatus.InvalidData, SshIdentification.TryRead(ref early, false, out _, out _));

        var many = string.Concat(Enumerable.Repeat("banner\r\n", SshIdentification.MaxPreambleLines + 1)) + "SSH-2.0-x\r\n";
        var tooMany = new SequenceReader<byte>(Segments.Of(Encoding.ASCII.GetBytes(many)));
        Assert.Equal(OperationStatus.InvalidData, SshIdentification.TryRead(ref tooMany, true, out _, out _));
    }

    [Fact]
    public void Identification_truncated_needs_more_and_consumes_nothing()
    {
        for (var i = 0; i < OpenSshLine.Length; i++)
        {
            var reader = new SequenceReader<byte>(Segments.Of(OpenSshLine[..(i / 2)], OpenSshLine[(i / 2)..i]));
            Assert.Equal(OperationStatus.NeedMoreData, SshIdentification.TryRead(ref reader, false, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Fact]
    public void Identification_over_255_bytes_or_with_control_characters_is_invalid()
    {
        var longest = Encoding.ASCII.GetBytes("SSH-2.0-" + new string('a', 255 - 10) + "\r\n");
        Assert.Equal(255, longest.Length);
        var ok = new SequenceReader<byte>(Segments.Of(longest));
        Assert.Equal(OperationStatus.Done, SshIdentification.TryRead(ref ok, false, out _, out _));

        var over = Encoding.ASCII.GetBytes("SSH-2.0-" + new string('a', 255 - 9) + "\r\n");
        var tooLong = new SequenceReader<byte>(Segments.Of(over));
        Assert.Equal(OperationStatus.InvalidData, SshIdentification.TryRead(ref tooLong, false, out _, out var error));
        Assert.Contains("255", error, StringComparison.Ordinal);

        // Without a line end: refused once 255 bytes are here, not buffered on.
        var endless = new SequenceReader<byte>(Segments.Of(over[..255]));
        Assert.Equal(OperationStatus.InvalidData, SshIdentification.TryRead(ref endless, false, out _, out _));

        foreach (var bad in new[] { "SSH-2.0-a\0b\r\n", "SSH-2.0-\r\n", "SSH-2.0\r\n", "SSH--x\r\n", "SSH-2.0-caf\u00e9\r\n" })
        {
            var reader = new SequenceReader<byte>(Segments.Of(Encoding.UTF8.GetBytes(bad)));
            Assert.Equal(OperationStatus.InvalidData, SshIdentification.TryRead(ref reader, false, out _, out _));
        }
    }

    [Fact]
    public void Packets_are_padded_to_whole_blocks_and_read_back_across_every_split()
    {
        for (var size = 1; size < 40; size++)
        {
            var payload = RandomNumberGenerator.GetBytes(size);
            var packet = Packet(payload);
            Assert.Equal(0, packet.Length % SshPacket.BlockSize);
            Assert.InRange(packet[4], SshPacket.MinPadding, SshPacket.MinPadding + SshPacket.BlockSize);
            foreach (var sequence in Segments.AllSplits(packet).Append(Segments.ByteAtATime(packet)))
            {
                var reader = new SequenceReader<byte>(sequence);
                Assert.Equal(OperationStatus.Done, SshPacket.TryRead(ref reader, out var read, out _));
                Assert.Equal(payload, read);
                Assert.True(reader.End);
            }
        }
    }

    [Fact]
    public void Packets_truncated_need_more_and_consume_nothing()
    {
        var packet = Packet(Offer().ToPayload());
        for (var i = 0; i < packet.Length; i += 7)
        {
            var reader = new SequenceReader<byte>(Segments.Of(packet[..(i / 3)], packet[(i / 3)..i]));
            Assert.Equal(OperationStatus.NeedMoreData, SshPacket.TryRead(ref reader, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [InlineData(35004u, 4)] // over 35000, a whole number of blocks
    [InlineData(0xFFFFFFFCu, 4)] // what a stray "SSH-" line would read as, nearly
    [InlineData(16u, 4)] // 4 + 16 is not a multiple of 8
    [InlineData(4u, 4)] // too short to carry padding and a message
    [InlineData(12u, 3)] // less than 4 bytes of padding
    [InlineData(12u, 11)] // padding leaves no payload
    public void Impossible_lengths_and_padding_are_invalid_as_soon_as_visible(uint length, byte padding)
    {
        var head = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(head, length);
        head[4] = padding;
        var reader = new SequenceReader<byte>(Segments.Of(head[..2], head[2..]));
        Assert.Equal(OperationStatus.InvalidData, SshPacket.TryRead(ref reader, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Kexinit_round_trips_and_negotiates_the_first_client_choice_the_server_has()
    {
        var offer = Offer();
        var payload = offer.ToPayload();
        Assert.True(SshKexInit.TryParse(payload, out var read, out _));
        Assert.Equal(offer.Cookie, read!.Cookie);
        Assert.Equal(offer.Kex, read.Kex);
        Assert.Equal(offer.CompressionServerToClient, read.CompressionServerToClient);
        Assert.Equal(payload, read.ToPayload());

        var server = SshKexInit.Offer([SshEcdsaKex.KexAlgorithm], [SshEcdsaKex.HostKeyAlgorithm], ["aes128-ctr", "chacha20-poly1305@openssh.com"], ["hmac-sha1"], ["none"]);
        var chosen = SshNegotiated.From(offer, server, out _)!;
        Assert.Equal((SshEcdsaKex.KexAlgorithm, SshEcdsaKex.HostKeyAlgorithm, "chacha20-poly1305@openssh.com", "<implicit>", "none"),
            (chosen.Kex, chosen.HostKey, chosen.CipherClientToServer, chosen.MacClientToServer, chosen.CompressionClientToServer));

        var rsaOnly = SshKexInit.Offer([SshEcdsaKex.KexAlgorithm], ["rsa-sha2-512", "ssh-rsa"], ["aes128-ctr"], ["hmac-sha1"], ["none"]);
        Assert.Null(SshNegotiated.From(rsaOnly, server, out var mismatch));
        Assert.Equal("no matching host key type found. Their offer: rsa-sha2-512,ssh-rsa", mismatch);
    }

    [Theory]
    [InlineData("a,,b")]
    [InlineData(",a")]
    [InlineData("a,")]
    [InlineData("has space")]
    [InlineData("ctl\u0001")]
    public void Name_lists_with_empty_or_unprintable_names_are_refused(string list)
    {
        var output = new ArrayBufferWriter<byte>();
        SshWire.WriteString(output, list);
        var reader = new SshSpanReader(output.WrittenSpan);
        Assert.False(reader.TryReadNameList(SshKexInit.MaxNameListLength, SshKexInit.MaxNames, out _));
    }

    [Fact]
    public void Name_lists_over_their_limits_are_refused()
    {
        static bool Read(string list)
        {
            var output = new ArrayBufferWriter<byte>();
            SshWire.WriteString(output, list);
            var reader = new SshSpanReader(output.WrittenSpan);
            return reader.TryReadNameList(SshKexInit.MaxNameListLength, SshKexInit.MaxNames, out _);
        }

        Assert.True(Read(new string('a', 64)));
        Assert.False(Read(new string('a', 65)));
        Assert.True(Read(string.Join(',', Enumerable.Repeat("ab", SshKexInit.MaxNames))));
        Assert.False(Read(string.Join(',', Enumerable.Repeat("ab", SshKexInit.MaxNames + 1))));
        Assert.False(Read(string.Join(',', Enumerable.Repeat(new string('x', 60), 70))));

        // A length that claims more than the payload holds.
        var lying = new byte[] { 0x00, 0x00, 0x10, 0x00, (byte)'a' };
        var reader = new SshSpanReader(lying);
        Assert.False(reader.TryReadNameList(SshKexInit.MaxNameListLength, SshKexInit.MaxNames, out _));
    }

    [Fact]
    public void Ecdh_exchange_gives_both_sides_one_secret_and_a_signature_that_verifies()
    {
        using var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var blob = SshEcdsaKex.HostKeyBlob(hostKey);
        Assert.Equal(104, blob.Length);
        using var client = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var clientPoint = SshEcdsaKex.EncodePoint(client.ExportParameters(false));

        var init = SshEcdhInit.ToPayload(clientPoint);
        Assert.True(SshEcdhInit.TryParse(init, out var received));
        Assert.True(SshEcdsaKex.TryAgree(received, out var serverPoint, out var serverSecret));
        Assert.True(SshEcdsaKex.TryDecodePoint(serverPoint, out var serverPublic));
        using var peer = ECDiffieHellman.Create(serverPublic);
        Assert.Equal(serverSecret, client.DeriveRawSecretAgreement(peer.PublicKey));

        var hash = SshEcdsaKex.ExchangeHash("SSH-2.0-c", "SSH-2.0-s", Offer().ToPayload(), Offer().ToPayload(), blob, clientPoint, serverPoint, serverSecret);
        var reply = new SshEcdhReply(blob, serverPoint, SshEcdsaKex.Sign(hostKey, hash)).ToPayload();
        Assert.True(SshEcdhReply.TryParse(reply, out var parsed));
        Assert.True(SshEcdsaKex.TryReadHostKey(parsed!.HostKey, out var algorithm, out var verifier));
        using (verifier)
        {
            Assert.Equal(SshEcdsaKex.HostKeyAlgorithm, algorithm);
            Assert.True(SshEcdsaKex.Verify(verifier!, hash, parsed.Signature));
            hash[0] ^= 1;
            Assert.False(SshEcdsaKex.Verify(verifier!, hash, parsed.Signature));
        }

        Assert.StartsWith("SHA256:", SshEcdsaKex.Fingerprint(blob), StringComparison.Ordinal);
        Assert.Equal(50, SshEcdsaKex.Fingerprint(blob).Length);
    }

    [Fact]
    public void A_point_off_the_curve_or_of_the_wrong_form_gives_no_secret()
    {
        var notOnCurve = new byte[SshEcdsaKex.PointLength];
        notOnCurve[0] = 4;
        notOnCurve[64] = 7;
        Assert.False(SshEcdsaKex.TryAgree(notOnCurve, out _, out _));
        Assert.False(SshEcdsaKex.TryAgree(new byte[33], out _, out _));
        Assert.False(SshEcdhInit.TryParse([30, 0, 0, 0, 200, .. new byte[200]], out _));
    }

    [Fact]
    public void Disconnect_round_trips()
    {
        var payload = new SshDisconnect((uint)SshDisconnectReason.ProtocolError, "Bad packet length").ToPayload();
        Assert.True(SshDisconnect.TryParse(payload, out var read));
        Assert.Equal((2u, "Bad packet length"), (read!.Reason, read.Description));
        Assert.False(SshDisconnect.TryParse(payload[..6], out _));
    }

    [Fact]
    public void Mpints_drop_leading_zeros_and_keep_the_sign()
    {
        static string Mpint(params byte[] magnitude)
        {
            var output = new ArrayBufferWriter<byte>();
            SshWire.WriteMpint(output, magnitude);
            return Convert.ToHexString(output.WrittenSpan);
        }

        // RFC 4251 §5's examples.
        Assert.Equal("00000000", Mpint(0));
        Assert.Equal("000000020080", Mpint(0x80));
        Assert.Equal("0000000809A378F9B2E332A7", Mpint(0x00, 0x09, 0xA3, 0x78, 0xF9, 0xB2, 0xE3, 0x32, 0xA7));
    }

    [Fact]
    public void Random_and_mutated_input_never_throws()
    {
        using var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var blob = SshEcdsaKex.HostKeyBlob(hostKey);
        var valid = new[]
        {
            OpenSshLine,
            Packet(Offer().ToPayload()),
            Offer().ToPayload(),
            new SshEcdhReply(blob, new byte[65], SshEcdsaKex.Sign(hostKey, new byte[32])).ToPayload(),
            new SshDisconnect(2, "x").ToPayload(),
        };
        foreach (var bytes in Fuzz.RandomAndMutated(22, 6000, 300, valid))
        {
            var split = bytes.Length / 2;
            var sequence = Segments.Of(bytes[..split], bytes[split..]);
            var r1 = new SequenceReader<byte>(sequence);
            _ = SshIdentification.TryRead(ref r1, true, out _, out _);
            var r2 = new SequenceReader<byte>(sequence);
            _ = SshIdentification.TryRead(ref r2, false, out _, out _);
            var r3 = new SequenceReader<byte>(sequence);
            _ = SshPacket.TryRead(ref r3, out _, out _);
            _ = SshKexInit.TryParse(bytes, out _, out _);
            _ = SshEcdhInit.TryParse(bytes, out _);
            _ = SshDisconnect.TryParse(bytes, out _);
            if (SshEcdhReply.TryParse(bytes, out var reply))
            {
                if (SshEcdsaKex.TryReadHostKey(reply!.HostKey, out _, out var key))
                {
                    using (key)
                    {
                        _ = SshEcdsaKex.Verify(key!, new byte[32], reply.Signature);
                    }
                }

                _ = SshEcdsaKex.TryAgree(reply.PublicKey, out _, out _);
            }
        }
    }
}
