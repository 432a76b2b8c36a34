using System.Buffers;
using System.Net;
using CucmSim.Protocols.AdminWeb;
using CucmSim.Protocols.Dhcp;
using CucmSim.Protocols.Echo;
using CucmSim.Protocols.H323;
using CucmSim.Protocols.Ike;
using CucmSim.Protocols.Ldap;
using CucmSim.Protocols.Mgcp;
using CucmSim.Protocols.Rmi;
using CucmSim.Protocols.Rtp;
using CucmSim.Protocols.Sccp;
using CucmSim.Protocols.Sip;
using CucmSim.Protocols.Snmp;
using CucmSim.Protocols.Ssh;
using CucmSim.Protocols.Syslog;
using CucmSim.Protocols.Tftp;

namespace CucmSim.Fuzzing;

/// <summary>
/// One harness per codec of CucmSim.Protocols. Each calls the codec as the server's handler does (the same
/// entry points, in the same order, with the same limits) and touches what the handler then reads. A harness
/// never catches: any exception is a finding, because the server does not catch one there either.
/// </summary>
public static class Harnesses
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["sccp"] = Sccp,
        ["sip"] = SipStream,
        ["sip-udp"] = SipDatagram,
        ["sdp"] = SdpBody,
        ["tftp"] = Tftp,
        ["snmp"] = Snmp,
        ["usm"] = SnmpUsm,
        ["rtp"] = Rtp,
        ["echo"] = Echo,
        ["mgcp"] = Mgcp,
        ["ike"] = Ike,
        ["ras"] = Ras,
        ["h225"] = H225,
        ["ldap"] = Ldap,
        ["syslog"] = Syslog,
        ["dhcp"] = Dhcp,
        ["rmi"] = Rmi,
        ["ssh"] = Ssh,
        ["http"] = Http,
    };

    /// <summary>SCCP over TCP (SccpProtocol.Next): frames with the server's data-length bound, each body decoded.</summary>
    private static void Sccp(byte[] data) => Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
    {
        close = false;
        var position = buffer.Start;
        while (true)
        {
            var reader = new SequenceReader<byte>(buffer.Slice(position));
            var status = SccpFraming.TryReadFrame(ref reader, 2000, out var header, out var body);
            if (status == OperationStatus.InvalidData)
            {
                close = true;
                return position;
            }

            if (status != OperationStatus.Done)
            {
                return position;
            }

            position = reader.Position;
            if (SccpCodec.TryDecode(header, body, out var message) == OperationStatus.Done)
            {
                _ = message!.ToString();
            }
        }
    });

    /// <summary>SIP over TCP (SipStreamProtocol.Process): Content-Length framing, each message parsed and read.</summary>
    private static void SipStream(byte[] data)
    {
        var message = new SipMessage();
        Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
        {
            close = false;
            var reader = new SequenceReader<byte>(buffer);
            while (true)
            {
                var status = SipFraming.TryRead(ref reader, message.MaxSize, out var framed);
                if (status == OperationStatus.NeedMoreData)
                {
                    return reader.Position;
                }

                if (status == OperationStatus.InvalidData)
                {
                    var head = buffer.Slice(reader.Position);
                    message.Parse(head.Slice(0, Math.Min(head.Length, message.MaxSize)));
                    Touch(message);
                    close = true;
                    return buffer.End;
                }

                if (SipFraming.IsKeepAlive(framed))
                {
                    continue;
                }

                if (message.Parse(framed) == SipParseError.Ok)
                {
                    Touch(message);
                }
            }
        });
    }

    /// <summary>SIP over UDP (SipUdpProtocol.OnDatagram): one datagram, one message.</summary>
    private static void SipDatagram(byte[] data)
    {
        var message = new SipMessage();
        if (message.Parse(Feed.Segmented(data)) == SipParseError.Ok)
        {
            Touch(message);
        }

        if (message.Parse(data) == SipParseError.Ok)
        {
            Touch(message);
        }
    }

    /// <summary>What SipService reads of a parsed message: Vias, URIs, Contact and Expires, credentials, the body.</summary>
    private static void Touch(SipMessage m)
    {
        for (var i = 0; i < m.ViaCount; i++)
        {
            SipVia.TryParse(m.Via(i), out _);
        }

        SipSyntax.TryParseUri(m[m.Uri], out _, out _, out _);
        SipSyntax.TryParseUri(m.Get(SipHeaderId.To), out _, out _, out _);
        SipSyntax.TryParseUri(m.Get(SipHeaderId.From), out _, out _, out _);
        var contact = m.Get(SipHeaderId.Contact);
        SipSyntax.TryParseUri(contact, out _, out _, out _);
        if (SipSyntax.Param(SipSyntax.HeaderParams(contact), "expires"u8, out var pe))
        {
            SipMessage.TryParseUInt(pe, out _);
        }

        SipMessage.TryParseUInt(m.Get(SipHeaderId.Expires), out _);
        var authorization = m.Get(SipHeaderId.Authorization);
        if (!authorization.IsEmpty)
        {
            SipDigest.ParseChallengeOrCredentials(authorization);
        }

        if (!m.Body.IsEmpty)
        {
            SdpSession.Parse(m[m.Body], out _);
        }
    }

    /// <summary>An SDP offer in an INVITE body, parsed and answered (SipService.Dialogs).</summary>
    private static void SdpBody(byte[] data)
    {
        var offer = SdpSession.Parse(data, out _);
        if (offer is not null)
        {
            _ = SdpSession.Answer(offer, "cucmsim", "192.0.2.1", 16384, 1).ToString();
        }
    }

    /// <summary>TFTP (TftpServer, TftpTransfer): a request on the well-known port, ACK/ERROR on a transfer's port.</summary>
    private static void Tftp(byte[] data)
    {
        if (TftpPacket.TryParseRequest(data, out var request, out _) == OperationStatus.Done)
        {
            _ = request!.ToString();
        }

        TftpPacket.TryParseAck(data, out _);
        TftpPacket.TryParseError(data, out _, out _);
        TftpPacket.TryParseOptionAck(data, out _, out _);
        if (TftpPacket.TryParseData(data, out _, out var payload))
        {
            NetAscii.Decode(payload);
        }
    }

    /// <summary>SNMP v1/v2c/v3 (SnmpHandler.OnDatagram): message, PDU and every varbind value.</summary>
    private static void Snmp(byte[] data)
    {
        Span<VarBind> varBinds = new VarBind[SnmpLimits.MaxVarBinds];
        if (SnmpCodec.DecodeMessage(data, out var message) != OperationStatus.Done)
        {
            return;
        }

        var pduRange = message.Pdu;
        if (message.Version == SnmpVersion.V3)
        {
            SnmpCodec.DecodeUsm(data, message.SecurityParameters, out _);
            if (message.Encrypted || SnmpCodec.DecodeScopedPdu(data, message.ScopedPdu, out _, out _, out pduRange) != OperationStatus.Done)
            {
                return;
            }
        }

        if (SnmpCodec.DecodePdu(data, pduRange, out var pdu, varBinds) == OperationStatus.Done)
        {
            for (var i = 0; i < pdu.VarBindCount; i++)
            {
                Ber.DecodeOid(data[varBinds[i].Name], new uint[128]);
                SnmpValue.Read(data, varBinds[i].ValueTag, varBinds[i].Value);
            }
        }
    }

    // As SnmpHandler's: room for the largest message.
    private static readonly byte[] Scratch = new byte[SnmpLimits.MaxMessageSize + 64];
    // Keys and offers are computed on first use, inside the fuzzing loop: code of an instrumented assembly must
    // not run before SharpFuzz has set up its coverage map.
    private static class Keys
    {
        private static readonly byte[] EngineId = Convert.FromHexString("800000090300005056A1B2C3");
        public static readonly byte[] Auth = Usm.Localize(SnmpAuth.Sha1, Usm.PasswordToKey(SnmpAuth.Sha1, "authpassword"), EngineId);
        public static readonly byte[] Priv = Usm.Localize(SnmpAuth.Sha1, Usm.PasswordToKey(SnmpAuth.Sha1, "privpassword"), EngineId)[..16];
        public static readonly SshKexInit ServerOffer = SshKexInit.Offer([SshEcdsaKex.KexAlgorithm], [SshEcdsaKex.HostKeyAlgorithm], ["aes128-ctr"], ["hmac-sha2-256"], ["none"]);
    }

    /// <summary>SNMPv3 USM (SnmpHandler.HandleV3): security parameters, digest check, decryption, scoped PDU.</summary>
    private static void SnmpUsm(byte[] data)
    {
        Span<VarBind> varBinds = new VarBind[SnmpLimits.MaxVarBinds];
        if (SnmpCodec.DecodeMessage(data, out var message) != OperationStatus.Done || message.Version != SnmpVersion.V3
            || SnmpCodec.DecodeUsm(data, message.SecurityParameters, out var usm) != OperationStatus.Done)
        {
            return;
        }

        var auth = usm.AuthParameters;
        if (auth.End.Value - auth.Start.Value == Usm.MacLength(SnmpAuth.Sha1))
        {
            Usm.Verify(SnmpAuth.Sha1, Keys.Auth, data, auth, Scratch);
        }

        ReadOnlySpan<byte> scopedData = data;
        var scopedRange = message.ScopedPdu;
        var salt = data.AsSpan()[usm.PrivParameters];
        if (message.Encrypted)
        {
            if (salt.Length != Usm.AesSaltLength)
            {
                return;
            }

            var plain = Usm.AesCfb(false, Keys.Priv, usm.EngineBoots, usm.EngineTime, salt, data.AsSpan()[message.EncryptedPdu]);
            scopedData = plain;
            scopedRange = new Range(0, plain.Length);
        }

        if (SnmpCodec.DecodeScopedPdu(scopedData, scopedRange, out _, out _, out var pduRange) == OperationStatus.Done)
        {
            SnmpCodec.DecodePdu(scopedData, pduRange, out _, varBinds);
        }
    }

    /// <summary>The RTP pool (RtpPool.Handle): probe, RTCP or RTP header, receiver statistics.</summary>
    private static void Rtp(byte[] data)
    {
        if (EchoProbe.TryParseDatagram(data, out _, out _))
        {
            return;
        }

        var stats = default(RtpReceiverStats);
        if (!RtpHeader.IsRtcp(data) && RtpHeader.TryParse(data, out var header))
        {
            stats.Update(header.SequenceNumber, header.Timestamp, 1000);
            _ = RtpHeader.ClockRate(header.PayloadType);
            _ = data.AsSpan(header.HeaderLength);
        }
    }

    /// <summary>The echo on every listener: datagram probes (UdpListeners) and probe lines on a stream (TcpPipeline).</summary>
    private static void Echo(byte[] data)
    {
        if (EchoProbe.TryParseDatagram(data, out var nonce, out _))
        {
            var reply = new byte[EchoProbe.MaxEchoLength];
            var n = EchoProbe.FormatEcho(reply, data.AsSpan()[nonce], "udp/5060", new IPEndPoint(IPAddress.Loopback, 5060), new IPEndPoint(IPAddress.IPv6Loopback, 40000), 5);
            EchoProbe.TryParseEcho(reply.AsSpan(0, n), out _);
        }

        EchoProbe.TryParseEcho(data, out _);
        var nonceBuffer = new byte[EchoProbe.MaxNonceLength];
        Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
        {
            close = false;
            var reader = new SequenceReader<byte>(buffer);
            while (true)
            {
                var status = EchoProbe.TryReadProbeLine(ref reader, nonceBuffer, out _);
                if (status == OperationStatus.Done)
                {
                    continue;
                }

                close = status == OperationStatus.InvalidData;
                return reader.Position;
            }
        });
    }

    /// <summary>MGCP (MgcpCallAgent): a command datagram, and its re-encoding.</summary>
    private static void Mgcp(byte[] data)
    {
        if (MgcpCodec.TryParse(data, out var message, out _, out _) == OperationStatus.Done)
        {
            MgcpCodec.Encode(message!);
        }
    }

    /// <summary>IKE (IkeResponder): v1 and v2 headers and payload chains.</summary>
    private static void Ike(byte[] data)
    {
        if (IkeCodec.TryParse(data, out var message, out _) == OperationStatus.Done)
        {
            _ = message.ToString();
        }

        IkeCodec.FirstNotifyType(data);
    }

    /// <summary>H.323 RAS (RasGatekeeper): PER-decoded RAS messages.</summary>
    private static void Ras(byte[] data)
    {
        if (RasCodec.TryDecode(data, out var message, out _) == OperationStatus.Done)
        {
            _ = message.ToString();
        }
    }

    /// <summary>H.225 call signalling (H225Protocol.Process): TPKT frames, Q.931 with the UUIE inside.</summary>
    private static void H225(byte[] data) => Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
    {
        close = false;
        var reader = new SequenceReader<byte>(buffer);
        while (!close && reader.Remaining > 0)
        {
            var status = Tpkt.TryRead(ref reader, out var payload);
            if (status == OperationStatus.NeedMoreData)
            {
                break;
            }

            if (status == OperationStatus.InvalidData)
            {
                close = true;
                break;
            }

            if (Q931Codec.TryDecode(payload, out var message, out _) == OperationStatus.Done)
            {
                _ = message!.ToString();
            }
        }

        return reader.Position;
    });

    /// <summary>LDAP (LdapProtocol.Process): BER framing, then the request with its filter.</summary>
    private static void Ldap(byte[] data) => Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
    {
        close = false;
        var reader = new SequenceReader<byte>(buffer);
        while (!close)
        {
            var status = LdapCodec.TryReadMessage(ref reader, out var message, out _);
            if (status == OperationStatus.NeedMoreData)
            {
                break;
            }

            if (status == OperationStatus.InvalidData)
            {
                reader.AdvanceToEnd();
                close = true;
                break;
            }

            if (!LdapCodec.TryReadRequest(message.ToArray(), out var request, out _, out _))
            {
                close = true;
                break;
            }

            _ = request!.ToString();
        }

        return reader.Position;
    });

    /// <summary>Syslog (SyslogReceiver): RFC 3164 and RFC 5424 datagrams.</summary>
    private static void Syslog(byte[] data)
    {
        SyslogCodec.TryParse(Feed.Segmented(data), out _, out _);
        if (SyslogCodec.TryParse(data, out var message, out _) == OperationStatus.Done)
        {
            _ = message!.ToString();
        }
    }

    /// <summary>DHCP (DhcpServer): BOOTP header and options.</summary>
    private static void Dhcp(byte[] data)
    {
        if (DhcpCodec.TryRead(data, out var message, out _))
        {
            var buffer = new byte[1500];
            DhcpCodec.Write(message, buffer);
        }
    }

    /// <summary>Java RMI (RmiProtocol.Process): the JRMP header, the client's endpoint, then messages.</summary>
    private static void Rmi(byte[] data)
    {
        var stage = 0;
        Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
        {
            close = false;
            var reader = new SequenceReader<byte>(buffer);
            var progress = true;
            while (progress && !close && reader.Remaining > 0)
            {
                progress = false;
                switch (stage)
                {
                    case 0:
                        var header = JrmpCodec.TryReadHeader(ref reader, out _, out var protocol);
                        if (header == OperationStatus.Done)
                        {
                            stage = protocol == (byte)JrmpProtocol.Stream ? 1 : protocol == (byte)JrmpProtocol.SingleOp ? 2 : 3;
                            close = stage == 3;
                            progress = true;
                        }

                        close |= header == OperationStatus.InvalidData;
                        break;
                    case 1:
                        var endpoint = JrmpCodec.TryReadEndpoint(ref reader, out _, out _);
                        if (endpoint == OperationStatus.Done)
                        {
                            stage = 2;
                            progress = true;
                        }

                        close = endpoint == OperationStatus.InvalidData;
                        break;
                    case 2:
                        reader.TryPeek(out var op);
                        if (op == (byte)JrmpMessage.Ping)
                        {
                            reader.Advance(1);
                            progress = true;
                        }
                        else if (op == (byte)JrmpMessage.DgcAck && reader.Remaining >= 1 + JrmpCodec.UidSize)
                        {
                            reader.Advance(1 + JrmpCodec.UidSize);
                            progress = true;
                        }
                        else if (op == (byte)JrmpMessage.Call)
                        {
                            stage = 3;
                        }
                        else if (op != (byte)JrmpMessage.DgcAck)
                        {
                            close = true;
                        }

                        break;
                    default:
                        reader.AdvanceToEnd();
                        break;
                }
            }

            return reader.Position;
        });
    }

    /// <summary>SSH (SshServer): the identification line, then binary packets: KEXINIT, ECDH init, disconnect.</summary>
    private static void Ssh(byte[] data)
    {
        var identified = false;
        Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
        {
            close = false;
            var reader = new SequenceReader<byte>(buffer);
            if (!identified)
            {
                var status = SshIdentification.TryRead(ref reader, skipPreamble: false, out _, out _);
                if (status != OperationStatus.Done)
                {
                    close = status == OperationStatus.InvalidData;
                    return reader.Position;
                }

                identified = true;
            }

            while (!close)
            {
                var packet = SshPacket.TryRead(ref reader, out var payload, out _);
                if (packet == OperationStatus.NeedMoreData)
                {
                    break;
                }

                if (packet == OperationStatus.InvalidData || payload.Length == 0)
                {
                    close = true;
                    break;
                }

                switch ((SshMessage)payload[0])
                {
                    case SshMessage.Disconnect:
                        SshDisconnect.TryParse(payload, out _);
                        close = true;
                        break;
                    case SshMessage.KexInit:
                        if (SshKexInit.TryParse(payload, out var offer, out _))
                        {
                            SshNegotiated.From(offer!, Keys.ServerOffer, out _);
                        }

                        break;
                    case SshMessage.KexEcdhInit:
                        if (SshEcdhInit.TryParse(payload, out var point))
                        {
                            SshEcdsaKex.TryAgree(point, out _, out _);
                        }

                        break;
                }
            }

            return reader.Position;
        });
    }

    /// <summary>The admin web (AdminWebProtocol): request heads on a kept-alive stream, AXL bodies.</summary>
    private static void Http(byte[] data)
    {
        Feed.Stream(data, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
        {
            close = false;
            var status = HttpRequestHead.TryRead(buffer, out var head, out var bodyStart);
            if (status == HttpHeadStatus.NeedMoreData)
            {
                return buffer.Start;
            }

            if (status != HttpHeadStatus.Done)
            {
                close = true;
                return buffer.End;
            }

            var rest = buffer.Slice(bodyStart);
            var length = head!.ContentLength;
            if (length < 0 || length > 64 * 1024)
            {
                close = true;
                return buffer.End;
            }

            if (rest.Length < length)
            {
                return buffer.Start;
            }

            var body = rest.Slice(0, length).ToArray();
            if (head.Path is "/axl" or "/axl/")
            {
                AxlMessages.Parse(body, out _);
                AxlMessages.ActionOperation(head.Header("SOAPAction"));
            }

            head.QueryValue("name");
            close = !head.KeepAlive;
            return rest.GetPosition(length);
        });
    }
}
