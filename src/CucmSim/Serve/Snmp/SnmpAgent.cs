using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Snmp;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve.Snmp;

/// <summary>Counters of the SNMPv2-MIB snmp group and of USM (read and written with Interlocked).</summary>
internal sealed class SnmpCounters
{
    public long InPkts;
    public long OutPkts;
    public long InBadVersions;
    public long InBadCommunityNames;
    public long InBadCommunityUses;
    public long InAsnParseErrs;
    public long SilentDrops;
    public long UnsupportedSecLevels;
    public long NotInTimeWindows;
    public long UnknownUserNames;
    public long UnknownEngineIds;
    public long WrongDigests;
    public long DecryptionErrors;
    public long UnknownSecurityModels;
}

/// <summary>A USM user with keys localized to this engine (RFC 3414 §2.6).</summary>
internal sealed record UsmUser(byte[] Name, SnmpAuth Auth, byte[]? AuthKey, SnmpPriv Priv, byte[]? PrivKey)
{
    /// <summary>msgFlags auth/priv bits this user can do.</summary>
    public int Level => (Auth != SnmpAuth.None ? 1 : 0) | (Priv != SnmpPriv.None ? 2 : 0);
}

/// <summary>
/// The SNMP agent of one node: v1/v2c communities, v3 USM, the MIB view and the traps. Shared by every
/// listener of the snmp protocol; each listener gets its own <see cref="SnmpHandler"/> with scratch buffers.
/// </summary>
internal sealed partial class SnmpAgent : IDisposable
{
    /// <summary>RFC 3414 §2.2.3: the time window is 150 seconds.</summary>
    private const int TimeWindow = 150;

    /// <summary>RFC 3417 §3: notification receivers listen on 162 unless told otherwise.</summary>
    private const int DefaultTrapPort = 162;

    private static readonly ConditionalWeakTable<ServeContext, SnmpAgent> Agents = [];

    private readonly ServeContext _context;
    private readonly ILogger _log;
    private readonly long _started;
    private readonly byte[][] _communities;
    private readonly UsmUser[] _users;
    private readonly List<MibEntry> _base;
    private readonly ConcurrentDictionary<string, uint> _phoneIndex = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(int Version, PduType Type, string Who), Dictionary<string, string>> _details = new();
    private readonly ConcurrentDictionary<(string Peer, string User), byte> _v3Seen = new();
    private readonly Lock _mibLock = new();
    private readonly List<IPEndPoint> _trapReceivers = [];
    private readonly Socket? _trapSocket;
    private readonly CancellationTokenRegistration _stopRegistration;
    private volatile MibView _mib;
    private int _dirty;
    private uint _nextPhoneIndex;
    private int _trapRequestId;
    private long _salt = RandomNumberGenerator.GetInt32(int.MaxValue);
    private long _badCommunityWindow;
    private int _badCommunityRecorded;

    private SnmpAgent(ServeContext context)
    {
        _context = context;
        Options = context.Snmp;
        _log = context.Loggers.CreateLogger("CucmSim.Snmp");
        _started = context.Time.GetTimestamp();
        EngineId = Options.EngineId is { } hex ? Convert.FromHexString(hex) : DefaultEngineId(context.Identity.HostName);
        EngineBoots = Options.EngineBoots;
        _communities = [.. Options.Communities.Select(Encoding.UTF8.GetBytes)];
        _users = [.. Options.Users.Select(u => Localize(u, EngineId))];
        _base = SnmpMibBuilder.Base(this, Options, context);
        _mib = Rebuild();
        context.Devices.Changed += OnDeviceChanged;

        foreach (var r in Options.TrapReceivers)
        {
            try
            {
                _trapReceivers.Add(ParseReceiver(r));
            }
            catch (Exception ex) when (ex is SocketException or FormatException or OverflowException or ArgumentException)
            {
                LogTrapFailed(_log, r, "not a usable receiver: " + ex.Message);
            }
        }

        if (_trapReceivers.Count > 0)
        {
            _trapSocket = new Socket(_trapReceivers[0].AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            if (Options.ColdStartTrap)
            {
                // SNMPv2-MIB coldStart (RFC 3418): sent once the agent is up.
                SendTrap(SnmpMibBuilder.ColdStart, [], "coldStart");
            }
        }

        _stopRegistration = context.Stopping.Register(Dispose);
    }

    public SnmpOptions Options { get; }
    public SnmpCounters Counters { get; } = new();
    public byte[] EngineId { get; }
    public int EngineBoots { get; }

    /// <summary>snmpEngineTime: seconds since the agent started (RFC 3414 §2.2.1).</summary>
    public int EngineTime => (int)_context.Time.GetElapsedTime(_started).TotalSeconds;

    /// <summary>sysUpTime in hundredths of a second.</summary>
    public uint UpTimeTicks => unchecked((uint)(long)(_context.Time.GetElapsedTime(_started).TotalMilliseconds / 10));

    public MibView Mib
    {
        get
        {
            if (Volatile.Read(ref _dirty) != 0)
            {
                lock (_mibLock)
                {
                    if (Interlocked.Exchange(ref _dirty, 0) != 0)
                    {
                        _mib = Rebuild();
                    }
                }
            }

            return _mib;
        }
    }

    public static SnmpAgent For(ServeContext context) => Agents.GetValue(context, c => new SnmpAgent(c));

    public IUdpProtocol CreateHandler(ListenerRuntime listener) => new SnmpHandler(this, listener);

    /// <summary>Cisco enterprise engine ID in the MAC format (RFC 3411 §5 SnmpEngineID: 80 00 00 09, format 3, 6 octets).</summary>
    public static byte[] DefaultEngineId(string hostName)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(hostName));
        byte[] id = [0x80, 0x00, 0x00, 0x09, 0x03, 0, 0, 0, 0, 0, 0];
        hash.AsSpan(0, 6).CopyTo(id.AsSpan(5));
        id[5] = (byte)((id[5] & 0xFC) | 0x02); // a locally administered unicast MAC
        return id;
    }

    public void Dispose()
    {
        _context.Devices.Changed -= OnDeviceChanged;
        _trapSocket?.Dispose();
        _stopRegistration.Dispose();
    }

    private static UsmUser Localize(SnmpUser u, byte[] engineId)
    {
        byte[]? authKey = null, privKey = null;
        if (u.Auth != SnmpAuth.None)
        {
            authKey = Usm.Localize(u.Auth, Usm.PasswordToKey(u.Auth, u.AuthPassword!), engineId);
            if (u.Priv != SnmpPriv.None)
            {
                // RFC 3826 §1.2: the privacy key is localized with the authentication protocol's hash.
                privKey = Usm.Localize(u.Auth, Usm.PasswordToKey(u.Auth, u.PrivPassword!), engineId);
            }
        }

        return new UsmUser(Encoding.UTF8.GetBytes(u.Name), u.Auth, authKey, authKey is null ? SnmpPriv.None : u.Priv, privKey);
    }

    private static IPEndPoint ParseReceiver(string text)
    {
        if (IPEndPoint.TryParse(text, out var ep))
        {
            if (ep.Port == 0)
            {
                ep.Port = DefaultTrapPort;
            }

            return ep;
        }

        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon] : text;
        var port = colon > 0 ? int.Parse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture) : DefaultTrapPort;
        var address = Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? Dns.GetHostAddresses(host)[0];
        return new IPEndPoint(address, port);
    }

    private MibView Rebuild()
    {
        var phones = SnmpMibBuilder.Phones(_context.Devices.Snapshot(), name => _phoneIndex.GetOrAdd(name, _ => Interlocked.Increment(ref _nextPhoneIndex)));
        return new MibView(_base.Concat(phones));
    }

    private void OnDeviceChanged(DeviceRecord device, bool registered)
    {
        Volatile.Write(ref _dirty, 1);
        if (Options.PhoneStatusTraps && _trapSocket is not null)
        {
            var index = _phoneIndex.GetOrAdd(device.Name, _ => Interlocked.Increment(ref _nextPhoneIndex));
            var entry = SnmpMibBuilder.CcmPhoneEntry + "." ;
            SendTrap(SnmpMibBuilder.CcmPhoneStatusUpdate,
            [
                new SnmpVarBind(entry + "20." + index.ToString(CultureInfo.InvariantCulture), SnmpValue.OctetString(device.Name)),
                new SnmpVarBind(entry + "7." + index.ToString(CultureInfo.InvariantCulture), SnmpValue.Integer(registered ? 2 : 3)),
                new SnmpVarBind(entry + "19." + index.ToString(CultureInfo.InvariantCulture), SnmpValue.Integer(SnmpMibBuilder.ProtocolOf(device.Protocol))),
            ], "ccmPhoneStatusUpdate");
        }
    }

    /// <summary>Sends an SNMPv2-Trap (RFC 3416 §4.2.6: sysUpTime.0, snmpTrapOID.0, then the objects) to every receiver.</summary>
    internal void SendTrap(uint[] trapOid, IReadOnlyList<SnmpVarBind> objects, string name)
    {
        if (_trapSocket is null)
        {
            return;
        }

        var varBinds = new List<SnmpVarBind>(objects.Count + 2)
        {
            new(SnmpMibBuilder.SysUpTime0, SnmpValue.TimeTicks(UpTimeTicks)),
            new(SnmpMibBuilder.SnmpTrapOid0, SnmpValue.ObjectId(trapOid)),
        };
        varBinds.AddRange(objects);
        var buffer = new byte[4096];
        var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, Encoding.UTF8.GetBytes(Options.TrapCommunity), PduType.TrapV2, Interlocked.Increment(ref _trapRequestId), 0, 0, varBinds.ToArray());
        foreach (var receiver in _trapReceivers)
        {
            try
            {
                _trapSocket.SendTo(buffer.AsSpan(0, n), SocketFlags.None, receiver);
                Interlocked.Increment(ref Counters.OutPkts);
                _context.Ledger.Append(new LedgerRecord
                {
                    Kind = "event",
                    Protocol = "snmp-trap",
                    Transport = "udp",
                    Peer = Text.EndPoint(receiver),
                    Verdict = "snmp-trap-sent",
                    Detail = new() { ["trap"] = name, ["oid"] = Ber.FormatOid(trapOid), ["version"] = "v2c" },
                });
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                LogTrapFailed(_log, Text.EndPoint(receiver), ex.Message);
            }
        }
    }

    /// <summary>The ledger detail of a request kind, cached so that answering allocates nothing.</summary>
    internal Dictionary<string, string> Detail(int version, PduType type, string who, bool user) =>
        _details.GetOrAdd((version, type, who), k => new Dictionary<string, string>
        {
            ["version"] = k.Version switch { 0 => "v1", 1 => "v2c", _ => "v3" },
            [user ? "user" : "community"] = k.Who,
            ["pdu"] = k.Type.ToString(),
        });

    /// <summary>Records a refused request (wrong community, v3 failure) in the ledger, at most 10 records per second.</summary>
    internal void RecordRefusal(IPEndPoint peer, ListenerRuntime listener, string verdict, Dictionary<string, string> detail)
    {
        var second = _context.Time.GetTimestamp() / _context.Time.TimestampFrequency;
        if (Interlocked.Exchange(ref _badCommunityWindow, second) != second)
        {
            Interlocked.Exchange(ref _badCommunityRecorded, 0);
        }

        if (Interlocked.Increment(ref _badCommunityRecorded) > 10)
        {
            return;
        }

        _context.Ledger.Append(listener.Record("event", Text.EndPoint(peer)) with
        {
            Verdict = verdict,
            Detail = detail,
        });
        LogRefused(_log, Text.EndPoint(peer), listener.Id, verdict);
    }

    /// <summary>
    /// Records the first authenticated SNMPv3 request of each manager and user (the flow record only sees the
    /// discovery exchange, which carries no user name). Bounded; past the bound nothing more is recorded.
    /// </summary>
    internal void RecordV3User(IPEndPoint peer, ListenerRuntime listener, string user, string level)
    {
        var key = (peer.Address.ToString(), user);
        if (_v3Seen.Count >= 10_000 || !_v3Seen.TryAdd(key, 0))
        {
            return;
        }

        _context.Ledger.Append(listener.Record("event", Text.EndPoint(peer)) with
        {
            Verdict = "snmp-v3-user",
            Detail = new() { ["version"] = "v3", ["user"] = user, ["level"] = level },
        });
    }

    internal bool CommunityAllowed(ReadOnlySpan<byte> community, out int index)
    {
        for (index = 0; index < _communities.Length; index++)
        {
            if (community.SequenceEqual(_communities[index]))
            {
                return true;
            }
        }

        return false;
    }

    internal string CommunityName(int index) => Options.Communities[index];

    internal UsmUser? FindUser(ReadOnlySpan<byte> name)
    {
        foreach (var u in _users)
        {
            if (name.SequenceEqual(u.Name))
            {
                return u;
            }
        }

        return null;
    }

    internal bool InTimeWindow(int boots, int time) => boots == EngineBoots && Math.Abs(time - EngineTime) <= TimeWindow;

    internal long NextSalt() => Interlocked.Increment(ref _salt);

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "snmp trap to {Receiver} failed: {Error}")]
    private static partial void LogTrapFailed(ILogger logger, string receiver, string error);

    [LoggerMessage(EventId = 601, Level = LogLevel.Information, Message = "snmp: request from {Peer} on {Listener} refused: {Verdict}")]
    private static partial void LogRefused(ILogger logger, string peer, string listener, string verdict);
}
