using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using CucmSim.Protocols.Snmp;

namespace CucmSim.Serve.Snmp;

/// <summary>
/// Answers the datagrams of one listener (called on its receive loop, so the scratch buffers need no lock).
/// v1/v2c per RFC 1157 and RFC 3416; v3 per RFC 3412 §7.2 with USM (RFC 3414 §3.2) and AES (RFC 3826).
/// </summary>
internal sealed class SnmpHandler(SnmpAgent agent, ListenerRuntime listener) : IUdpProtocol
{
    private const int Slack = 16;

    private readonly byte[] _out = new byte[SnmpLimits.MaxMessageSize + 64];
    private readonly byte[] _scoped = new byte[SnmpLimits.MaxMessageSize + 64];
    private readonly byte[] _check = new byte[SnmpLimits.MaxMessageSize + 64];
    private readonly VarBind[] _varBinds = new VarBind[SnmpLimits.MaxVarBinds];
    private readonly int[] _columns = new int[SnmpLimits.MaxVarBinds];

    private SnmpCounters Counters => agent.Counters;

    public void OnDatagram(ref UdpRequest request)
    {
        Interlocked.Increment(ref Counters.InPkts);
        var data = request.Data;
        if (SnmpCodec.DecodeMessage(data, out var message) != OperationStatus.Done)
        {
            if (message.Version is not (SnmpVersion.V1 or SnmpVersion.V2c or SnmpVersion.V3) && message.Version != 0)
            {
                // RFC 3412 §7.2 step 2: snmpInBadVersions.
                Interlocked.Increment(ref Counters.InBadVersions);
            }
            else
            {
                Interlocked.Increment(ref Counters.InAsnParseErrs);
            }

            Malformed(ref request, "snmp-malformed");
            return;
        }

        if (message.Version == SnmpVersion.V3)
        {
            HandleV3(ref request, data, in message);
            return;
        }

        var community = data[message.Community];
        if (!agent.CommunityAllowed(community, out var communityIndex))
        {
            // RFC 1157 §4.1 / RFC 3584 §5.2.1: an unknown community is dropped silently and counted.
            Interlocked.Increment(ref Counters.InBadCommunityNames);
            request.Verdict = "snmp-bad-community";
            request.Detail = agent.Detail((int)message.Version, PduType.Get, "(wrong)", user: false);
            agent.RecordRefusal(request.Peer, listener, "snmp-bad-community", new() { ["version"] = message.Version == SnmpVersion.V1 ? "v1" : "v2c", ["community"] = Text.Escape(community) });
            return;
        }

        if (SnmpCodec.DecodePdu(data, message.Pdu, out var pdu, _varBinds) != OperationStatus.Done)
        {
            Interlocked.Increment(ref Counters.InAsnParseErrs);
            Malformed(ref request, "snmp-malformed");
            return;
        }

        var v1 = message.Version == SnmpVersion.V1;
        if (!IsRequest(pdu.Type) || (v1 && pdu.Type == PduType.GetBulk))
        {
            // Responses, traps and reports sent to an agent, and GetBulk in v1 (RFC 3584 §4.1), are dropped.
            Interlocked.Increment(ref Counters.InAsnParseErrs);
            Malformed(ref request, "snmp-unexpected-pdu");
            return;
        }

        request.Verdict = Verdict(pdu.Type);
        request.Detail = agent.Detail((int)message.Version, pdu.Type, agent.CommunityName(communityIndex), user: false);

        // Community messages are unauthenticated: cap the answer against reflection (GetBulk amplifies).
        var budget = Math.Min(agent.Options.MaxResponseSize, UnauthenticatedBudget(data.Length));
        var w = new BerWriter(_out);
        var m = w.Begin(BerTag.Sequence);
        w.WriteInteger((int)message.Version);
        w.WriteBytes(BerTag.OctetString, community);
        if (!WriteResponsePdu(ref w, data, in pdu, _varBinds.AsSpan(0, pdu.VarBindCount), v1, budget - Slack))
        {
            Interlocked.Increment(ref Counters.SilentDrops);
            return;
        }

        w.End(m);
        if (w.Overflow)
        {
            Interlocked.Increment(ref Counters.SilentDrops);
            return;
        }

        request.Reply(w.Written);
        Interlocked.Increment(ref Counters.OutPkts);
    }

    private int UnauthenticatedBudget(int requestLength)
    {
        var factor = agent.Options.MaxAmplification;
        return factor <= 0 ? int.MaxValue : Math.Max(factor * requestLength, agent.Options.AmplificationFloor);
    }

    private void Malformed(ref UdpRequest request, string verdict)
    {
        listener.MalformedInput();
        request.Verdict = verdict;
    }

    private static bool IsRequest(PduType t) => t is PduType.Get or PduType.GetNext or PduType.GetBulk or PduType.Set;

    private static string Verdict(PduType t) => t switch
    {
        PduType.Get => "snmp-get",
        PduType.GetNext => "snmp-getnext",
        PduType.GetBulk => "snmp-getbulk",
        _ => "snmp-set-refused",
    };

    /// <summary>
    /// Writes the Response-PDU for a request whose total message must stay within <paramref name="limit"/>
    /// bytes of the writer. Returns false when not even an error response fits.
    /// </summary>
    private bool WriteResponsePdu(ref BerWriter w, ReadOnlySpan<byte> data, in Pdu pdu, ReadOnlySpan<VarBind> vbs, bool v1, int limit)
    {
        var start = w.Length;
        if (pdu.Type == PduType.Set)
        {
            // Every community is read-only. RFC 3584 §4.4: v1 reports noSuchName; v2c/v3 noAccess (RFC 3416 §4.2.5).
            return WriteError(ref w, data, in pdu, vbs, v1 ? SnmpError.NoSuchName : SnmpError.NoAccess, vbs.Length > 0 ? 1 : 0, limit, start);
        }

        var mib = agent.Mib;
        var p = w.Begin((byte)PduType.Response);
        w.WriteInteger(pdu.RequestId);
        w.WriteInteger(0);
        w.WriteInteger(0);
        var list = w.Begin(BerTag.Sequence);
        Span<uint> oid = stackalloc uint[Ber.MaxOidLength];
        var tooBig = false;
        if (pdu.Type == PduType.Get)
        {
            for (var i = 0; i < vbs.Length && !tooBig; i++)
            {
                var n = Ber.DecodeOid(data[vbs[i].Name], oid);
                var index = mib.Find(oid[..n]);
                if (index >= 0 && !(v1 && mib[index].Type == BerTag.Counter64))
                {
                    WriteVarBind(ref w, mib[index]);
                }
                else if (v1)
                {
                    // RFC 1157 §4.1.2: noSuchName with the 1-based index of the first missing variable.
                    return WriteError(ref w, data, in pdu, vbs, SnmpError.NoSuchName, i + 1, limit, start);
                }
                else
                {
                    WriteException(ref w, data[vbs[i].Name], mib.MissingKind(oid[..n], ~index));
                }

                tooBig = w.Overflow || w.Length > limit;
            }
        }
        else if (pdu.Type == PduType.GetNext)
        {
            for (var i = 0; i < vbs.Length && !tooBig; i++)
            {
                var n = Ber.DecodeOid(data[vbs[i].Name], oid);
                var index = Next(mib, oid[..n], v1);
                if (index >= 0)
                {
                    WriteVarBind(ref w, mib[index]);
                }
                else if (v1)
                {
                    return WriteError(ref w, data, in pdu, vbs, SnmpError.NoSuchName, i + 1, limit, start);
                }
                else
                {
                    WriteException(ref w, data[vbs[i].Name], BerTag.EndOfMibView);
                }

                tooBig = w.Overflow || w.Length > limit;
            }
        }
        else
        {
            tooBig = !WriteBulk(ref w, data, in pdu, vbs, mib, limit);
        }

        if (tooBig)
        {
            // RFC 3416 §4.2.1 (v2: empty varbinds) and RFC 1157 §4.1.2 (v1: the request's varbinds).
            return WriteError(ref w, data, in pdu, v1 ? vbs : [], SnmpError.TooBig, 0, limit, start);
        }

        w.End(list);
        w.End(p);
        return !w.Overflow;
    }

    /// <summary>RFC 3416 §4.2.3 GetBulk: non-repeaters get one GetNext, the rest up to max-repetitions rows; truncated at the size limit.</summary>
    private bool WriteBulk(ref BerWriter w, ReadOnlySpan<byte> data, in Pdu pdu, ReadOnlySpan<VarBind> vbs, MibView mib, int limit)
    {
        var nonRepeaters = Math.Clamp(pdu.NonRepeaters, 0, vbs.Length);
        var repetitions = Math.Clamp(pdu.MaxRepetitions, 0, agent.Options.MaxRepetitions);
        Span<uint> oid = stackalloc uint[Ber.MaxOidLength];
        var written = 0;
        for (var i = 0; i < nonRepeaters; i++)
        {
            var mark = w.Length;
            var n = Ber.DecodeOid(data[vbs[i].Name], oid);
            var index = mib.FindNext(oid[..n]);
            if (index >= 0)
            {
                WriteVarBind(ref w, mib[index]);
            }
            else
            {
                WriteException(ref w, data[vbs[i].Name], BerTag.EndOfMibView);
            }

            if (w.Overflow || w.Length > limit)
            {
                w.Truncate(mark);
                return written > 0;
            }

            written++;
        }

        var repeaters = vbs.Length - nonRepeaters;
        var columns = _columns.AsSpan(0, repeaters);
        for (var j = 0; j < repeaters; j++)
        {
            var n = Ber.DecodeOid(data[vbs[nonRepeaters + j].Name], oid);
            columns[j] = mib.FindNext(oid[..n]) is var next and >= 0 ? next : -2;
        }

        for (var r = 0; r < repetitions && repeaters > 0; r++)
        {
            var allEnded = true;
            for (var j = 0; j < repeaters; j++)
            {
                var mark = w.Length;
                if (columns[j] >= 0)
                {
                    allEnded = false;
                    WriteVarBind(ref w, mib[columns[j]]);
                    columns[j] = columns[j] + 1 < mib.Count ? columns[j] + 1 : -1;
                }
                else
                {
                    // Past the end: endOfMibView named like the column's last varbind (RFC 3416 §4.2.3): the last
                    // object of the view (-1), or the request's name when the column never had one (-2).
                    var name = columns[j] == -2 ? data[vbs[nonRepeaters + j].Name] : mib[mib.Count - 1].OidContent;
                    WriteException(ref w, name, BerTag.EndOfMibView);
                }

                if (w.Overflow || w.Length > limit)
                {
                    w.Truncate(mark);
                    return written > 0;
                }

                written++;
            }

            if (allEnded)
            {
                // Every column is past the end: later rows would only repeat endOfMibView (RFC 3416 §4.2.3 lets the agent stop).
                break;
            }
        }

        return true;
    }

    private static int Next(MibView mib, ReadOnlySpan<uint> oid, bool v1)
    {
        var index = mib.FindNext(oid);

        // RFC 3584 §4.2.2.1: a v1 GetNext skips Counter64 objects.
        while (v1 && index >= 0 && mib[index].Type == BerTag.Counter64)
        {
            index = index + 1 < mib.Count ? index + 1 : -1;
        }

        return index;
    }

    private static void WriteVarBind(ref BerWriter w, MibEntry entry)
    {
        var s = w.Begin(BerTag.Sequence);
        w.WriteBytes(BerTag.Oid, entry.OidContent);
        entry.WriteValue(ref w);
        w.End(s);
    }

    private static void WriteException(ref BerWriter w, ReadOnlySpan<byte> name, byte exception)
    {
        var s = w.Begin(BerTag.Sequence);
        w.WriteBytes(BerTag.Oid, name);
        w.WriteNull(exception);
        w.End(s);
    }

    /// <summary>Rewrites the PDU as an error response echoing the given varbinds (RFC 3416 §4.2.1, RFC 1157 §4.1.2).</summary>
    private static bool WriteError(ref BerWriter w, ReadOnlySpan<byte> data, in Pdu pdu, ReadOnlySpan<VarBind> vbs, SnmpError error, int index, int limit, int start)
    {
        w.Truncate(start);
        var p = w.Begin((byte)PduType.Response);
        w.WriteInteger(pdu.RequestId);
        w.WriteInteger((int)error);
        w.WriteInteger(index);
        var list = w.Begin(BerTag.Sequence);
        foreach (var vb in vbs)
        {
            var s = w.Begin(BerTag.Sequence);
            w.WriteBytes(BerTag.Oid, data[vb.Name]);
            w.WriteBytes(vb.ValueTag, data[vb.Value]);
            w.End(s);
        }

        w.End(list);
        w.End(p);
        if (!w.Overflow && w.Length <= limit)
        {
            return true;
        }

        if (error == SnmpError.TooBig && vbs.Length > 0)
        {
            return WriteError(ref w, data, in pdu, [], error, 0, limit, start);
        }

        return false;
    }

    // ---------------------------------------------------------------- SNMPv3 / USM

    private void HandleV3(ref UdpRequest request, ReadOnlySpan<byte> data, in SnmpMessage message)
    {
        if (message.SecurityModel != 3)
        {
            // RFC 3412 §7.2 step 4: snmpUnknownSecurityModels, dropped.
            Interlocked.Increment(ref Counters.UnknownSecurityModels);
            Malformed(ref request, "snmp-v3-unknown-security-model");
            return;
        }

        if (SnmpCodec.DecodeUsm(data, message.SecurityParameters, out var usm) != OperationStatus.Done)
        {
            Interlocked.Increment(ref Counters.InAsnParseErrs);
            Malformed(ref request, "snmp-malformed");
            return;
        }

        var level = message.MsgFlags & 0x03;
        var reportable = (message.MsgFlags & 0x04) != 0;
        var requestId = PlainRequestId(data, in message);
        var userName = data[usm.UserName];

        // RFC 3414 §3.2 step 3: an unknown engine ID (discovery) gets usmStatsUnknownEngineIDs.
        if (!data[usm.EngineId].SequenceEqual(agent.EngineId))
        {
            var count = Interlocked.Increment(ref Counters.UnknownEngineIds);
            Report(ref request, in message, requestId, reportable, SnmpMibBuilder.UsmStatsUnknownEngineIds, count, null, userName, "snmp-v3-discovery");
            return;
        }

        var user = agent.FindUser(userName);
        if (user is null)
        {
            var count = Interlocked.Increment(ref Counters.UnknownUserNames);
            Report(ref request, in message, requestId, reportable, SnmpMibBuilder.UsmStatsUnknownUserNames, count, null, userName, "snmp-v3-unknown-user");
            return;
        }

        if (level != user.Level)
        {
            // RFC 3414 §3.2 step 5: a level the user is not configured for.
            var count = Interlocked.Increment(ref Counters.UnsupportedSecLevels);
            Report(ref request, in message, requestId, reportable, SnmpMibBuilder.UsmStatsUnsupportedSecLevels, count, null, userName, "snmp-v3-unsupported-level");
            return;
        }

        if (user.Auth != SnmpAuth.None)
        {
            var macLength = Usm.MacLength(user.Auth);
            var auth = usm.AuthParameters;
            if (auth.End.Value - auth.Start.Value != macLength || !Usm.Verify(user.Auth, user.AuthKey, data, auth, _check))
            {
                // RFC 3414 §3.2 step 6.
                var count = Interlocked.Increment(ref Counters.WrongDigests);
                Report(ref request, in message, requestId, reportable, SnmpMibBuilder.UsmStatsWrongDigests, count, null, userName, "snmp-v3-wrong-digest");
                return;
            }

            if (!agent.InTimeWindow(usm.EngineBoots, usm.EngineTime))
            {
                // RFC 3414 §3.2 step 7b: reported at authNoPriv so the manager can trust the new time.
                var count = Interlocked.Increment(ref Counters.NotInTimeWindows);
                Report(ref request, in message, requestId, reportable, SnmpMibBuilder.UsmStatsNotInTimeWindows, count, user, userName, "snmp-v3-not-in-time-window");
                return;
            }
        }

        ReadOnlySpan<byte> scopedData = data;
        var scopedRange = message.ScopedPdu;
        if (user.Priv != SnmpPriv.None)
        {
            byte[]? plain = null;
            var salt = data[usm.PrivParameters];
            if (message.Encrypted && salt.Length == Usm.AesSaltLength)
            {
                plain = Usm.AesCfb(false, user.PrivKey, usm.EngineBoots, usm.EngineTime, salt, data[message.EncryptedPdu]);
            }

            if (plain is null || SnmpCodec.DecodeScopedPdu(plain, new Range(0, plain.Length), out _, out _, out _) != OperationStatus.Done)
            {
                // RFC 3414 §3.2 step 8.
                var count = Interlocked.Increment(ref Counters.DecryptionErrors);
                Report(ref request, in message, requestId, reportable, SnmpMibBuilder.UsmStatsDecryptionErrors, count, null, userName, "snmp-v3-decryption-error");
                return;
            }

            scopedData = plain;
            scopedRange = new Range(0, plain.Length);
        }
        else if (message.Encrypted)
        {
            Interlocked.Increment(ref Counters.InAsnParseErrs);
            Malformed(ref request, "snmp-malformed");
            return;
        }

        if (SnmpCodec.DecodeScopedPdu(scopedData, scopedRange, out _, out var contextName, out var pduRange) != OperationStatus.Done
            || SnmpCodec.DecodePdu(scopedData, pduRange, out var pdu, _varBinds) != OperationStatus.Done)
        {
            Interlocked.Increment(ref Counters.InAsnParseErrs);
            Malformed(ref request, "snmp-malformed");
            return;
        }

        if (!IsRequest(pdu.Type))
        {
            Interlocked.Increment(ref Counters.InAsnParseErrs);
            Malformed(ref request, "snmp-unexpected-pdu");
            return;
        }

        request.Verdict = Verdict(pdu.Type);
        var name = System.Text.Encoding.UTF8.GetString(user.Name);
        request.Detail = agent.Detail(3, pdu.Type, name, user: true);
        agent.RecordV3User(request.Peer, listener, name, level switch { 0 => "noAuthNoPriv", 1 => "authNoPriv", _ => "authPriv" });

        // The whole answer must fit the manager's msgMaxSize (RFC 3412 §7.1 step 11) and ours.
        var budget = Math.Min(Math.Min(message.MsgMaxSize, agent.Options.MaxResponseSize), level == 0 ? UnauthenticatedBudget(data.Length) : int.MaxValue);
        var overhead = 64 + agent.EngineId.Length + user.Name.Length + 24 + 8 + Slack;
        var sw = new BerWriter(_scoped);
        var sm = sw.Begin(BerTag.Sequence);
        sw.WriteBytes(BerTag.OctetString, agent.EngineId);
        sw.WriteBytes(BerTag.OctetString, scopedData[contextName]);
        if (!WriteResponsePdu(ref sw, scopedData, in pdu, _varBinds.AsSpan(0, pdu.VarBindCount), v1: false, budget - overhead))
        {
            Interlocked.Increment(ref Counters.SilentDrops);
            return;
        }

        sw.End(sm);
        if (sw.Overflow)
        {
            Interlocked.Increment(ref Counters.SilentDrops);
            return;
        }

        SendV3(ref request, message.MsgId, level, user, userName, sw.Written);
    }

    /// <summary>request-id of a plaintext scoped PDU (for Reports), 0 when encrypted or undecodable.</summary>
    private static int PlainRequestId(ReadOnlySpan<byte> data, in SnmpMessage message)
    {
        if (message.Encrypted
            || SnmpCodec.DecodeScopedPdu(data, message.ScopedPdu, out _, out _, out var pduRange) != OperationStatus.Done)
        {
            return 0;
        }

        var r = new BerReader(data[..pduRange.End.Value], pduRange.Start.Value);
        return r.TryReadHeader(out _, out _) && r.TryReadInt32(out var id) ? id : 0;
    }

    /// <summary>
    /// Sends a Report-PDU with one usmStats counter (RFC 3412 §7.1 step 3; RFC 3414 §3.2). Only when the
    /// request was reportable; at noAuthNoPriv unless <paramref name="authUser"/> is given.
    /// </summary>
    private void Report(ref UdpRequest request, in SnmpMessage message, int requestId, bool reportable, uint[] counter, long count, UsmUser? authUser, ReadOnlySpan<byte> userName, string verdict)
    {
        request.Verdict = verdict;
        var who = userName.Length == 0 ? "(discovery)" : Text.Escape(userName);
        request.Detail = agent.Detail(3, PduType.Report, who, user: true);
        if (userName.Length > 0)
        {
            agent.RecordRefusal(request.Peer, listener, verdict, new() { ["version"] = "v3", ["user"] = who });
        }

        if (!reportable)
        {
            return;
        }

        var sw = new BerWriter(_scoped);
        var sm = sw.Begin(BerTag.Sequence);
        sw.WriteBytes(BerTag.OctetString, agent.EngineId);
        sw.WriteBytes(BerTag.OctetString, []);
        var p = sw.Begin((byte)PduType.Report);
        sw.WriteInteger(requestId);
        sw.WriteInteger(0);
        sw.WriteInteger(0);
        var list = sw.Begin(BerTag.Sequence);
        var s = sw.Begin(BerTag.Sequence);
        sw.WriteOid(counter);
        sw.WriteUnsigned(BerTag.Counter32, unchecked((uint)count));
        sw.End(s);
        sw.End(list);
        sw.End(p);
        sw.End(sm);

        // A report about an unauthenticated request may not exceed the amplification budget either.
        if (authUser is null && sw.Length + 64 + agent.EngineId.Length + userName.Length > UnauthenticatedBudget(request.Data.Length))
        {
            Interlocked.Increment(ref Counters.SilentDrops);
            return;
        }

        SendV3(ref request, message.MsgId, authUser is null ? 0 : 1, authUser, authUser is null ? [] : userName, sw.Written);
    }

    /// <summary>Wraps a scoped PDU in an SNMPv3 message (encrypting and signing per <paramref name="level"/>) and sends it.</summary>
    private void SendV3(ref UdpRequest request, int msgId, int level, UsmUser? user, ReadOnlySpan<byte> userName, ReadOnlySpan<byte> scopedPdu)
    {
        var boots = agent.EngineBoots;
        var time = agent.EngineTime;
        Span<byte> salt = stackalloc byte[Usm.AesSaltLength];
        byte[]? encrypted = null;
        if ((level & 2) != 0 && user?.PrivKey is { } privKey)
        {
            // RFC 3826 §3.1.3.1: a fresh 64-bit salt per message.
            BinaryPrimitives.WriteInt64BigEndian(salt, agent.NextSalt());
            encrypted = Usm.AesCfb(true, privKey, boots, time, salt, scopedPdu);
        }

        var macLength = (level & 1) != 0 && user is not null ? Usm.MacLength(user.Auth) : 0;
        var length = SnmpCodec.WriteV3(_out, msgId, agent.Options.MaxResponseSize, (byte)level, agent.EngineId, boots, time, userName, macLength, salt, scopedPdu, encrypted, encrypted is not null);
        if (length < 0)
        {
            Interlocked.Increment(ref Counters.SilentDrops);
            return;
        }

        // Where the zeroed MAC landed (lengths may have grown to the long form) is found again, and signed in place.
        if (macLength > 0 && !Usm.Sign(user!.Auth, user.AuthKey, _out.AsSpan(0, length)))
        {
            return;
        }

        request.Reply(_out.AsSpan(0, length));
        Interlocked.Increment(ref Counters.OutPkts);
    }
}
