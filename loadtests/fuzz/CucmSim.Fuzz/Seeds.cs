using System.Net;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Dhcp;
using CucmSim.Protocols.H323;
using CucmSim.Protocols.Ike;
using CucmSim.Protocols.Ldap;
using CucmSim.Protocols.Mgcp;
using CucmSim.Protocols.Rmi;
using CucmSim.Protocols.Rtp;
using CucmSim.Protocols.Sccp;
using CucmSim.Protocols.Snmp;
using CucmSim.Protocols.Ssh;
using CucmSim.Protocols.Syslog;
using CucmSim.Protocols.Tftp;

namespace CucmSim.Fuzzing;

/// <summary>
/// Seed inputs of each harness written by the codecs' own encoders (what a real peer sends, as the codec tests
/// build it); corpus.sh adds the payloads of the golden captures. Stream seeds hold several messages.
/// </summary>
public static class Seeds
{
    private static readonly IPEndPoint Phone = new(IPAddress.Parse("192.0.2.10"), 1720);
    private static readonly IPEndPoint Gk = new(IPAddress.Parse("192.0.2.1"), 1719);

    public static IReadOnlyList<byte[]> For(string codec) => codec switch
    {
        "sccp" => Sccp(),
        "sip" => [Concat(Text(Options), Text(Register), Text("\r\n\r\n"), Text(Invite))],
        "sip-udp" => [Text(Options), Text(Register), Text(Invite), Text(Response)],
        "sdp" => [Text(SdpOffer)],
        "tftp" => Tftp(),
        "snmp" => Snmp(),
        "usm" => Usm(),
        "rtp" => Rtp(),
        "echo" => [Text("CUCMSIM-PROBE abc123\n"), Text("CUCMSIM-PROBE n0nce idle=30"), Text("CUCMSIM-PROBE a\r\nCUCMSIM-PROBE b\n"),
            Text("CUCMSIM-ECHO abc udp/5060 127.0.0.1:5060 [::1]:40000\n")],
        "mgcp" => [MgcpCodec.Encode(MgcpMessage.Command("RSIP", 1001, "aaln/1@gw.example", "1.0", [new("RM", "restart")])),
            MgcpCodec.Encode(MgcpMessage.Command("AUEP", 1002, "*@gw.example", "1.0", [new("F", "A")])), Text("NTFY 2 aaln/1@gw MGCP 1.0\r\nO: L/hd\r\nX: 1\r\n")],
        "ike" => Ike(),
        "ras" => [RasCodec.WriteGrq(1, Phone, [H225Alias.Digits("1001")]), RasCodec.WriteRrq(2, Phone, Gk, [H225Alias.Digits("1001")], "GK"),
            RasCodec.WriteLrq(3, H225Alias.Digits("2002"), Phone), RasCodec.WriteUrq(4, Phone, "EP1"), RasCodec.WriteGcf(5, "GK", Gk)],
        "h225" => H225(),
        "ldap" => [Concat(LdapCodec.WriteBindRequest(1, "cn=admin,dc=example", "secret"),
            LdapCodec.WriteSearchRequest(2, "dc=example", LdapScope.WholeSubtree, LdapFilter.Parse("(&(objectClass=person)(|(uid=a*)(cn=*b*)))"), ["cn", "telephoneNumber"], 10),
            LdapCodec.WriteExtendedRequest(3, "1.3.6.1.4.1.1466.20037"), LdapCodec.WriteUnbindRequest(4))],
        "syslog" => [Text(SyslogCodec.Format3164(23, 5, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), "gw1", "sshd", "started")),
            Text(SyslogCodec.Format5424(16, 3, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), "host", "app", "42", "ID7", "hello")),
            Text("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] BOMmsg")],
        "dhcp" => Dhcp(),
        "rmi" => Rmi(),
        "ssh" => Ssh(),
        "http" => [Concat(Text("GET / HTTP/1.1\r\nHost: cucm\r\n\r\n"), Text("GET /cucm-uds/users?name=a HTTP/1.1\r\nHost: cucm\r\n\r\n"),
            Text($"POST /axl/ HTTP/1.1\r\nHost: cucm\r\nSOAPAction: \"CUCM:DB ver=14.0 getCCMVersion\"\r\nContent-Length: {Encoding.UTF8.GetByteCount(Axl)}\r\nConnection: close\r\n\r\n{Axl}"))],
        _ => throw new ArgumentException($"no harness {codec}", nameof(codec)),
    };

    private const string Options = "OPTIONS sip:cucm@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\nMax-Forwards: 70\r\n"
        + "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:cucm@127.0.0.1>\r\nCall-ID: a1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    private const string Register = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2\r\nMax-Forwards: 70\r\n"
        + "From: <sip:1001@127.0.0.1>;tag=2\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: r1@127.0.0.1\r\nCSeq: 2 REGISTER\r\n"
        + "Contact: <sip:1001@127.0.0.1:5070;transport=tcp>;expires=3600\r\nExpires: 3600\r\n"
        + "Authorization: Digest username=\"1001\", realm=\"ccmsipline\", nonce=\"abc\", uri=\"sip:127.0.0.1\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n"
        + "Content-Length: 0\r\n\r\n";

    private const string SdpOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\n"
        + "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\nm=video 0 RTP/AVP 97\r\n";

    private static readonly string Invite = "INVITE sip:2002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK3\r\nMax-Forwards: 70\r\n"
        + "From: \"A\" <sip:1001@127.0.0.1>;tag=3\r\nTo: <sip:2002@127.0.0.1>\r\nCall-ID: i1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:5070>\r\n"
        + $"Content-Type: application/sdp\r\nContent-Length: {SdpOffer.Length}\r\n\r\n{SdpOffer}";

    private const string Response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK4;received=127.0.0.1;rport=5070\r\n"
        + "From: <sip:1001@127.0.0.1>;tag=4\r\nTo: <sip:2002@127.0.0.1>;tag=5\r\nCall-ID: x@127.0.0.1\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n";

    private const string Axl = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"http://www.cisco.com/AXL/API/14.0\">"
        + "<soapenv:Body><ns:listPhone><searchCriteria><name>SEP%</name></searchCriteria><returnedTags><name/></returnedTags></ns:listPhone></soapenv:Body></soapenv:Envelope>";

    private static List<byte[]> Sccp()
    {
        var register = new SccpRegister { DeviceName = "SEP001122334455", StationAddress = IPAddress.Parse("192.0.2.10"), ProtocolVersion = 20 };
        var v = SccpFraming.HeaderVersionFor(20);
        return
        [
            Concat(SccpCodec.Encode(register, 0), SccpCodec.Encode(SccpEmpty.KeepAliveReq, 0), SccpCodec.Encode(SccpEmpty.ButtonTemplateReq, 0)),
            Concat(SccpCodec.Encode(register, v), SccpCodec.Encode(new SccpCapabilitiesRes([new SccpCapability(4, 40), new SccpCapability(2, 40)]), v),
                SccpCodec.Encode(new SccpHook(SccpMessageId.OffHook, 1, 0), v), SccpCodec.Encode(new SccpKeypadButton(1, 1, 7), v),
                SccpCodec.Encode(new SccpOpenReceiveChannelAck(0, IPAddress.Parse("192.0.2.10"), 20000, 1, 7), v)),
        ];
    }

    private static List<byte[]> Tftp()
    {
        var buffer = new byte[600];
        var seeds = new List<byte[]>();
        var n = TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, "SEP001122334455.cnf.xml", TftpMode.Octet, new TftpOptionSet(1024, 0, 5, 4));
        seeds.Add(buffer[..n]);
        n = TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, "XMLDefault.cnf.xml", TftpMode.NetAscii, default);
        seeds.Add(buffer[..n]);
        n = TftpPacket.WriteAck(buffer, 7);
        seeds.Add(buffer[..n]);
        n = TftpPacket.WriteError(buffer, TftpErrorCode.FileNotFound, "no");
        seeds.Add(buffer[..n]);
        n = TftpPacket.WriteOptionAck(buffer, new TftpOptionSet(1428, 12345, 3, null));
        seeds.Add(buffer[..n]);
        n = TftpPacket.WriteData(buffer, 1, "line\r\nnext\r\0"u8);
        seeds.Add(buffer[..n]);
        return seeds;
    }

    private static readonly uint[] SysDescr = [1, 3, 6, 1, 2, 1, 1, 1, 0];

    private static List<byte[]> Snmp()
    {
        var buffer = new byte[1500];
        var seeds = new List<byte[]>();
        SnmpVarBind[] get = [new(SysDescr, SnmpValue.Null)];
        SnmpVarBind[] values = [new(SysDescr, SnmpValue.OctetString("Cisco")), new([1, 3, 6, 1, 2, 1, 1, 3, 0], SnmpValue.TimeTicks(12345)),
            new([1, 3, 6, 1, 2, 1, 1, 2, 0], SnmpValue.ObjectId([1, 3, 6, 1, 4, 1, 9, 1, 1348])), new([1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 127, 0, 0, 1], SnmpValue.IpAddress([127, 0, 0, 1])),
            new([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1], SnmpValue.Counter64(1UL << 40)), new([1, 3, 6, 1, 2, 1, 2, 2, 1, 5, 1], SnmpValue.Gauge32(100000000))];
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.Get, 1, 0, 0, get);
        seeds.Add(buffer[..n]);
        n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V1, "public"u8, PduType.GetNext, 2, 0, 0, get);
        seeds.Add(buffer[..n]);
        n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.GetBulk, 3, 0, 10, get);
        seeds.Add(buffer[..n]);
        n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.Response, 4, 0, 0, values);
        seeds.Add(buffer[..n]);
        n = SnmpCodec.WriteTrapV1(buffer, "public"u8, [1, 3, 6, 1, 4, 1, 9], [192, 0, 2, 1], 6, 1, 100, values);
        seeds.Add(buffer[..n]);
        seeds.AddRange(Usm());
        return seeds;
    }

    private static List<byte[]> Usm()
    {
        var buffer = new byte[1500];
        var engine = Convert.FromHexString("800000090300005056A1B2C3");
        var scoped = ScopedPdu(engine);
        var key = CucmSim.Protocols.Snmp.Usm.Localize(SnmpAuth.Sha1, CucmSim.Protocols.Snmp.Usm.PasswordToKey(SnmpAuth.Sha1, "authpassword"), engine);
        var seeds = new List<byte[]>();
        var n = SnmpCodec.WriteV3(buffer, 1, 65507, 0x04, [], 0, 0, [], 0, [], ScopedPdu([]), [], isEncrypted: false);
        seeds.Add(buffer[..n]);
        n = SnmpCodec.WriteV3(buffer, 2, 65507, 0x05, engine, 1, 100, "admin"u8, 12, [], scoped, [], isEncrypted: false);
        var signed = buffer[..n];
        CucmSim.Protocols.Snmp.Usm.Sign(SnmpAuth.Sha1, key, signed);
        seeds.Add(signed);
        n = SnmpCodec.WriteV3(buffer, 3, 65507, 0x07, engine, 1, 100, "admin"u8, 12, new byte[8], [], scoped, isEncrypted: true);
        seeds.Add(buffer[..n]);
        return seeds;
    }

    private static byte[] ScopedPdu(byte[] engine)
    {
        var buffer = new byte[512];
        var w = new BerWriter(buffer);
        var mark = w.Begin(BerTag.Sequence);
        w.WriteBytes(BerTag.OctetString, engine);
        w.WriteBytes(BerTag.OctetString, []);
        SnmpCodec.WritePdu(ref w, PduType.Get, 7, 0, 0, [new(SysDescr, SnmpValue.Null)]);
        w.End(mark);
        return w.Written.ToArray();
    }

    private static List<byte[]> Rtp()
    {
        var packet = new byte[172];
        RtpHeader.Write(packet, true, 0, 1, 160, 0x12345678);
        var rtcp = Convert.FromHexString("80C8000612345678E5A1B2C300000000000000A000000001000000A081CA00031234567801034142430000");
        var extension = Convert.FromHexString("90000002000000A01234567800010001DEADBEEF");
        return [packet, rtcp, extension, Text("CUCMSIM-PROBE rtp1")];
    }

    private static List<byte[]> Ike()
    {
        var buffer = new byte[1500];
        var n1 = IkeCodec.WriteV1MainModeRequest(buffer, 0x0102030405060708);
        var v1 = buffer[..n1];
        var n2 = IkeCodec.WriteV2SaInitRequest(buffer, 0x1112131415161718);
        var v2 = buffer[..n2];
        var n3 = IkeCodec.WriteV2Notify(buffer, 1, 2, IkeExchange.V2IkeSaInit, 0, IkeNotify.NoProposalChosen);
        return [v1, v2, buffer[..n3]];
    }

    private static List<byte[]> H225()
    {
        var callId = new byte[16];
        var setup = UuieCodec.WriteSetup([H225Alias.Digits("1001")], [H225Alias.Digits("2002")], new byte[16], callId);
        var q931 = Q931Codec.Encode(new Q931Message { Type = Q931Type.Setup, CallReference = 1, CalledNumber = "2002" }, setup);
        var enquiry = Q931Codec.Encode(new Q931Message { Type = Q931Type.StatusEnquiry, CallReference = 1 }, null);
        var release = Q931Codec.Encode(new Q931Message { Type = Q931Type.ReleaseComplete, CallReference = 1 }, UuieCodec.WriteReleaseComplete(0, callId));
        return [Concat(Tpkt.Wrap(q931), Tpkt.Wrap(enquiry), Tpkt.Wrap(release))];
    }

    private static List<byte[]> Dhcp()
    {
        var message = new DhcpMessage { TransactionId = 0x1234, ClientHardwareAddress = [0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] };
        message.Options.Add(new(DhcpOption.MessageType, [(byte)DhcpMessageType.Discover]));
        message.Options.Add(new(DhcpOption.ParameterRequestList, [1, 3, 6, 150]));
        message.Options.Add(new(60, "Cisco Systems, Inc. IP Phone CP-8841"u8.ToArray()));
        var buffer = new byte[1500];
        var n = DhcpCodec.Write(message, buffer);
        return [buffer[..n]];
    }

    private static List<byte[]> Rmi()
    {
        var buffer = new byte[600];
        var n = JrmpCodec.WriteHeader(buffer, JrmpProtocol.Stream);
        n += JrmpCodec.WriteEndpoint(buffer.AsSpan(n), "127.0.0.1", 0);
        buffer[n++] = (byte)JrmpMessage.Ping;
        buffer[n++] = (byte)JrmpMessage.Ping;
        var single = new byte[16];
        var m = JrmpCodec.WriteHeader(single, JrmpProtocol.SingleOp);
        single[m++] = (byte)JrmpMessage.Call;
        return [buffer[..n], single[..m]];
    }

    private static List<byte[]> Ssh()
    {
        var offer = SshKexInit.Offer([SshEcdsaKex.KexAlgorithm, "curve25519-sha256"], [SshEcdsaKex.HostKeyAlgorithm], ["aes128-ctr"], ["hmac-sha2-256"], ["none"]);
        var stream = new System.Buffers.ArrayBufferWriter<byte>();
        System.Buffers.BuffersExtensions.Write(stream, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"u8);
        SshPacket.Write(stream, offer.ToPayload());
        using var client = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var q = client.ExportParameters(false).Q;
        SshPacket.Write(stream, SshEcdhInit.ToPayload([0x04, .. q.X!, .. q.Y!]));
        return [stream.WrittenSpan.ToArray()];
    }

    private static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
