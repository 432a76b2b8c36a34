using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Snmp;

namespace CucmSim.Clients.Snmp;

/// <summary>A USM user as a manager holds it: name, and the protocols and passwords its level needs (RFC 3414).</summary>
public sealed record SnmpV3User(string Name, SnmpAuth Auth = SnmpAuth.None, string? AuthPassword = null, SnmpPriv Priv = SnmpPriv.None, string? PrivPassword = null)
{
    /// <summary>msgFlags' security bits: 0 noAuthNoPriv, 1 authNoPriv, 3 authPriv.</summary>
    public int Level => Auth == SnmpAuth.None ? 0 : Priv == SnmpPriv.None ? 1 : 3;

    public string LevelName => Level switch { 0 => "noAuthNoPriv", 1 => "authNoPriv", _ => "authPriv" };

    public override string ToString() =>
        Level == 0 ? $"{Name} ({LevelName})" : $"{Name} ({LevelName}, {Auth}{(Priv == SnmpPriv.None ? string.Empty : "/" + Priv)})";
}

/// <summary>
/// An SNMPv3 manager with the User-based Security Model: engine discovery (RFC 3414 §4: a request with an empty
/// engine ID and user answered by a Report of usmStatsUnknownEngineIDs that carries the agent's engine ID, boots
/// and time), then the request at the user's level, signed (HMAC-SHA-96, HMAC-SHA-256-192) and encrypted
/// (AES-128-CFB) as the user asks; one re-synchronisation when the agent reports notInTimeWindow. A Report in
/// place of the response is the error, in words (unknown user, wrong digest, ...). All on one UDP socket.
/// </summary>
public static class SnmpV3Client
{
    private const string UsmStats = "1.3.6.1.6.3.15.1.1.";

    /// <summary>usmStats counters (RFC 3414 §5) a Report may carry, and what each means to the manager.</summary>
    private static readonly Dictionary<string, (string Name, string Meaning)> Reports = new(StringComparer.Ordinal)
    {
        [UsmStats + "1.0"] = ("usmStatsUnsupportedSecLevels", "the agent does not accept this user at this security level"),
        [UsmStats + "2.0"] = ("usmStatsNotInTimeWindows", "the request fell outside the agent's time window, even after re-synchronising"),
        [UsmStats + "3.0"] = ("usmStatsUnknownUserNames", "the agent knows no such user"),
        [UsmStats + "4.0"] = ("usmStatsUnknownEngineIDs", "the agent does not take the engine ID it was sent"),
        [UsmStats + "5.0"] = ("usmStatsWrongDigests", "wrong digest: the authentication password or protocol differs from the agent's"),
        [UsmStats + "6.0"] = ("usmStatsDecryptionErrors", "decryption error: the privacy password or protocol differs from the agent's"),
        ["1.3.6.1.6.3.11.2.1.3.0"] = ("snmpUnknownPDUHandlers", "the agent has no handler for the PDU"),
        ["1.3.6.1.6.3.12.1.4.0"] = ("snmpUnavailableContexts", "the context is unavailable"),
        ["1.3.6.1.6.3.12.1.5.0"] = ("snmpUnknownContexts", "the agent knows no such context"),
    };

    /// <summary>GET of <paramref name="oids"/> as <paramref name="user"/>: discovery, the request, a re-sync if needed.</summary>
    public static async Task<SnmpResult> GetAsync(IPEndPoint target, SnmpV3User user, IReadOnlyList<string> oids, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(oids);
        var started = TimeProvider.System.GetTimestamp();
        SnmpResult Fail(string error, Engine? engine = null, string? report = null) =>
            new(target, SnmpError.NoError, 0, [], error, TimeProvider.System.GetElapsedTime(started)) { EngineId = engine?.IdHex, Report = report };

        if (Encoding.UTF8.GetByteCount(user.Name) > SnmpLimits.MaxUserNameLength || (user.Level > 0 && string.IsNullOrEmpty(user.AuthPassword)) || (user.Level == 3 && string.IsNullOrEmpty(user.PrivPassword)))
        {
            return Fail("the user needs a name of at most 32 bytes and a password for each protocol it names");
        }

        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(target);
        }
        catch (SocketException ex)
        {
            return Fail(ex.SocketErrorCode.ToString());
        }

        // 1. Discovery: noAuthNoPriv, reportable, empty engine ID and user, no varbinds (RFC 5343 §4 does the same).
        var discovery = await ExchangeAsync(socket, Engine.Unknown, null, null, [], timeout, attempts, cancellationToken).ConfigureAwait(false);
        if (discovery.Error is not null)
        {
            return Fail($"{(discovery.Error.StartsWith("timeout", StringComparison.Ordinal) ? "timeout: no answer to the engine discovery (filtered, or no SNMPv3 agent)" : "engine discovery: " + discovery.Error)}");
        }

        var engine = discovery.Engine!;
        if (engine.Id.Length == 0)
        {
            return Fail("engine discovery: the agent's Report carries no engine ID");
        }

        Keys? keys = null;
        if (user.Level > 0)
        {
            var authKey = Usm.Localize(user.Auth, Usm.PasswordToKey(user.Auth, user.AuthPassword!), engine.Id);
            var privKey = user.Level == 3 ? Usm.Localize(user.Auth, Usm.PasswordToKey(user.Auth, user.PrivPassword!), engine.Id) : null;
            keys = new Keys(user, authKey, privKey);
        }

        // 2. The request; 3. once more with the agent's clock when it says the first was outside its time window.
        var varBinds = oids.Select(o => new SnmpVarBind(o, SnmpValue.Null)).ToArray();
        for (var resync = 0; ; resync++)
        {
            var answer = await ExchangeAsync(socket, engine, user, keys, varBinds, timeout, attempts, cancellationToken).ConfigureAwait(false);
            if (answer.Error is not null)
            {
                return Fail(answer.Error.StartsWith("timeout", StringComparison.Ordinal)
                    ? $"timeout: the discovery was answered, the {user.LevelName} GET was not (a path or agent that drops authenticated SNMPv3?)"
                    : answer.Error, engine);
            }

            if (answer.Report is { } report)
            {
                if (report == UsmStats + "2.0" && resync == 0 && answer.Authenticated)
                {
                    engine = answer.Engine!;
                    continue;
                }

                var (name, meaning) = Reports.TryGetValue(report, out var known) ? known : (report, "the agent refused the request");
                return Fail($"report {name}: {meaning} (user {user})", engine, name);
            }

            return new SnmpResult(target, answer.Status, answer.Index, answer.VarBinds ?? [], null, TimeProvider.System.GetElapsedTime(started))
            {
                EngineId = engine.IdHex,
                Resynchronised = resync > 0,
            };
        }
    }

    /// <summary>The agent's engine as the manager last learnt it: ID, boots, and time (counted on from when it was learnt).</summary>
    private sealed record Engine(byte[] Id, int Boots, int Time, long Learnt)
    {
        public static Engine Unknown { get; } = new([], 0, 0, 0);

        public string IdHex => Convert.ToHexString(Id).ToLowerInvariant();

        /// <summary>snmpEngineTime now, by the manager's clock (RFC 3414 §2.3: the manager keeps its notion of it).</summary>
        public int TimeNow => Learnt == 0 ? 0 : (int)Math.Min(int.MaxValue, Time + (long)TimeProvider.System.GetElapsedTime(Learnt).TotalSeconds);
    }

    private sealed record Keys(SnmpV3User User, byte[] AuthKey, byte[]? PrivKey);

    private sealed record Answer(string? Error, Engine? Engine = null, string? Report = null, bool Authenticated = false, SnmpError Status = SnmpError.NoError, int Index = 0, IReadOnlyList<SnmpVarBind>? VarBinds = null);

    private static async Task<Answer> ExchangeAsync(Socket socket, Engine engine, SnmpV3User? user, Keys? keys, SnmpVarBind[] varBinds, TimeSpan? timeout, int attempts, CancellationToken cancellationToken)
    {
        var msgId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
        var requestId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
        var request = Build(msgId, requestId, engine, user, keys, varBinds);
        if (request is null)
        {
            return new Answer("request too large");
        }

        Answer? answer = null;
        var error = await UdpExchange.RequestAsync(socket, request, SnmpLimits.MaxMessageSize, (ReadOnlySpan<byte> data, out string? problem) =>
        {
            answer = Read(data, msgId, requestId, keys, out problem);
            return answer is not null;
        }, "timeout: no answer", timeout, attempts, cancellationToken).ConfigureAwait(false);
        return answer ?? new Answer(error ?? "no answer");
    }

    /// <summary>An SNMPv3 GET at the user's level (or the discovery, with no user), signed and encrypted as it asks.</summary>
    private static byte[]? Build(int msgId, int requestId, Engine engine, SnmpV3User? user, Keys? keys, SnmpVarBind[] varBinds)
    {
        var level = keys is null ? 0 : user!.Level;
        var boots = engine.Boots;
        var time = engine.TimeNow;

        var scopedBuffer = new byte[SnmpLimits.MaxMessageSize];
        var s = new BerWriter(scopedBuffer);
        var sm = s.Begin(BerTag.Sequence);
        s.WriteBytes(BerTag.OctetString, engine.Id);
        s.WriteBytes(BerTag.OctetString, []);
        SnmpCodec.WritePdu(ref s, PduType.Get, requestId, 0, 0, varBinds);
        s.End(sm);
        if (s.Overflow)
        {
            return null;
        }

        ReadOnlySpan<byte> scoped = s.Written;
        Span<byte> salt = stackalloc byte[Usm.AesSaltLength];
        byte[]? encrypted = null;
        if (level == 3)
        {
            // RFC 3826 §3.1.3.1: a salt not used before with this key; 64 random bits will do.
            RandomNumberGenerator.Fill(salt);
            encrypted = Usm.AesCfb(true, keys!.PrivKey!, boots, time, salt, scoped);
        }

        var macLength = level > 0 ? Usm.MacLength(user!.Auth) : 0;
        var buffer = new byte[SnmpLimits.MaxMessageSize];
        var length = SnmpCodec.WriteV3(buffer, msgId, SnmpLimits.MaxMessageSize, (byte)(level | 0x04), engine.Id, boots, time,
            user is null ? [] : Encoding.UTF8.GetBytes(user.Name), macLength, salt, scoped, encrypted, encrypted is not null);
        if (length < 0)
        {
            return null;
        }

        var message = buffer.AsSpan(0, length).ToArray();
        return macLength > 0 && !Usm.Sign(user!.Auth, keys!.AuthKey, message) ? null : message;
    }

    /// <summary>
    /// The answer to our msgID: its engine parameters and either a Report's counter or the Response's varbinds.
    /// Null (with the reason) for a datagram that is not it, including one whose MAC does not verify.
    /// </summary>
    private static Answer? Read(ReadOnlySpan<byte> data, int msgId, int requestId, Keys? keys, out string? problem)
    {
        problem = "an answer that is not a valid SNMPv3 message";
        if (SnmpCodec.DecodeMessage(data, out var message) != OperationStatus.Done || message.Version != SnmpVersion.V3 || message.SecurityModel != 3
            || SnmpCodec.DecodeUsm(data, message.SecurityParameters, out var usm) != OperationStatus.Done)
        {
            return null;
        }

        if (message.MsgId != msgId)
        {
            problem = "an answer with another msgID";
            return null;
        }

        var level = message.MsgFlags & 0x03;
        var engine = new Engine(data[usm.EngineId].ToArray(), usm.EngineBoots, usm.EngineTime, TimeProvider.System.GetTimestamp());
        var authenticated = false;
        if (level > 0)
        {
            if (keys is null || !Usm.Verify(keys.User.Auth, keys.AuthKey, data, usm.AuthParameters, new byte[data.Length]))
            {
                problem = "an answer whose MAC does not verify with this user's key";
                return null;
            }

            authenticated = true;
        }

        ReadOnlySpan<byte> scoped = data;
        var scopedRange = message.ScopedPdu;
        if (message.Encrypted)
        {
            var salt = data[usm.PrivParameters];
            if (level != 3 || keys?.PrivKey is null || salt.Length != Usm.AesSaltLength)
            {
                problem = "an encrypted answer this user cannot decrypt";
                return null;
            }

            var plain = Usm.AesCfb(false, keys.PrivKey, usm.EngineBoots, usm.EngineTime, salt, data[message.EncryptedPdu]);
            scoped = plain;
            scopedRange = new Range(0, plain.Length);
        }

        var vbs = new VarBind[SnmpLimits.MaxVarBinds];
        if (SnmpCodec.DecodeScopedPdu(scoped, scopedRange, out _, out _, out var pduRange) != OperationStatus.Done
            || SnmpCodec.DecodePdu(scoped, pduRange, out var pdu, vbs) != OperationStatus.Done)
        {
            problem = message.Encrypted ? "an answer that does not decrypt to a scoped PDU (the privacy password?)" : "an answer whose scoped PDU is not valid";
            return null;
        }

        var varBinds = new List<SnmpVarBind>(pdu.VarBindCount);
        Span<uint> oid = stackalloc uint[Ber.MaxOidLength];
        for (var i = 0; i < pdu.VarBindCount; i++)
        {
            var n = Ber.DecodeOid(scoped[vbs[i].Name], oid);
            varBinds.Add(new SnmpVarBind(oid[..n].ToArray(), SnmpValue.Read(scoped, vbs[i].ValueTag, vbs[i].Value)));
        }

        problem = null;
        if (pdu.Type == PduType.Report)
        {
            // A Report may carry request-id 0 when the agent could not read ours (RFC 3412 §7.1 step 3).
            return new Answer(null, engine, varBinds.Count > 0 ? Ber.FormatOid(varBinds[0].Oid) : "(empty report)", authenticated);
        }

        if (pdu.Type != PduType.Response || pdu.RequestId != requestId)
        {
            problem = "an answer with another request-id";
            return null;
        }

        return new Answer(null, engine, null, authenticated, (SnmpError)pdu.ErrorStatus, pdu.ErrorIndex, varBinds);
    }
}
