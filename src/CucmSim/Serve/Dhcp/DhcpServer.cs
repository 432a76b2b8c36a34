using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Dhcp;

namespace CucmSim.Serve.Dhcp;

/// <summary>
/// The DHCP server of serve --dhcp (RFC 2131) on 67/udp, as CUCM's own DHCP server would run for phones:
/// DISCOVER gets an OFFER from the pool, REQUEST for the offered (or leased) address an ACK and anything else a
/// NAK, RELEASE and DECLINE free the address, INFORM gets the options alone. Offers and ACKs carry option 150
/// (Cisco's TFTP server address) and 66 with the node's address as ServeContext.Embedded decides, the subnet
/// mask, lease times and the server identifier. Replies leave from port 67 and the address the request reached:
/// to a relay (giaddr) on 67, or on the port it sent from when it asks for that (RFC 8357); to ciaddr on 68 when
/// the client has an address; otherwise broadcast on the interface the request came in on (this server does not
/// write the ARP table, so the unicast to an unconfigured client of RFC 2131 §4.1 is a broadcast here, as RFC
/// 2131 allows a server that cannot unicast). One ledger record of kind <c>dhcp</c> per message.
/// </summary>
internal sealed class DhcpServer : IUdpProtocol
{
    private const int MaxRecordsPerSecond = 200;
    private static readonly IPAddress Broadcast = IPAddress.Broadcast;

    private readonly ListenerRuntime _listener;
    private readonly ServeContext _context;
    private readonly DhcpOptions _options;
    private readonly Socket _socket;
    private readonly byte[] _out = new byte[DhcpCodec.MaxReplySize];
    private readonly Dictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, string> _holders = [];
    private readonly Lock _lock = new();
    private InterfaceSnapshot? _interfaces;
    private long _window;
    private int _recorded;

    public DhcpServer(ListenerRuntime listener, ServeContext context, DhcpOptions options)
    {
        _listener = listener;
        _context = context;
        _options = options;
        _socket = listener.Socket!;
        _socket.EnableBroadcast = true;
    }

    /// <summary>Suppressed ledger records (over <see cref="MaxRecordsPerSecond"/>).</summary>
    public long Suppressed { get; private set; }

    private sealed class Lease(uint address, DateTimeOffset expires, bool bound)
    {
        public uint Address { get; set; } = address;
        public DateTimeOffset Expires { get; set; } = expires;
        public bool Bound { get; set; } = bound;
    }

    public void OnDatagram(ref UdpRequest request)
    {
        var detail = new Dictionary<string, string>();
        request.Detail = detail;
        if (!DhcpCodec.TryRead(request.Data, out var message, out var error))
        {
            _listener.MalformedInput();
            request.Verdict = "dhcp-malformed";
            detail["error"] = error!;
            Record(ref request, detail);
            return;
        }

        detail["type"] = message.MessageType.ToString();
        detail["chaddr"] = message.HardwareAddressText;
        detail["xid"] = message.TransactionId.ToString("x8", CultureInfo.InvariantCulture);
        if (message.Op != 1 || message.MessageType is DhcpMessageType.None or DhcpMessageType.Offer or DhcpMessageType.Ack or DhcpMessageType.Nak)
        {
            // A reply or a plain BOOTP message: nothing for a server to answer.
            request.Verdict = "dhcp-ignored";
            Record(ref request, detail);
            return;
        }

        var (server, prefix) = ServerAddress(ref request);
        detail["server"] = server.ToString();
        var relayed = !message.RelayAddress.Equals(IPAddress.Any);
        var pool = Pool(relayed ? DhcpPool.ToNumber(message.RelayAddress) : DhcpPool.ToNumber(server), relayed ? 24 : prefix);
        var key = ClientKey(message);
        var now = _context.Time.GetUtcNow();
        var tftp = _context.Embedded(server, request.Peer.Address);
        DhcpMessage? reply = null;
        lock (_lock)
        {
            switch (message.MessageType)
            {
                case DhcpMessageType.Discover:
                    var offered = Allocate(key, message.GetAddress(DhcpOption.RequestedAddress), pool, server, message.RelayAddress, now);
                    if (offered is null)
                    {
                        request.Verdict = "dhcp-pool-exhausted";
                        break;
                    }

                    request.Verdict = "dhcp-offer";
                    reply = Answer(message, DhcpMessageType.Offer, server, offered, pool, tftp);
                    break;
                case DhcpMessageType.Request:
                    reply = OnRequest(ref request, message, key, server, pool, tftp, now, detail);
                    break;
                case DhcpMessageType.Release or DhcpMessageType.Decline:
                    request.Verdict = message.MessageType == DhcpMessageType.Release ? "dhcp-release" : "dhcp-decline";
                    Free(key);
                    break;
                case DhcpMessageType.Inform:
                    request.Verdict = "dhcp-inform";
                    reply = Answer(message, DhcpMessageType.Ack, server, null, pool, tftp);
                    reply.ClientAddress = message.ClientAddress;
                    break;
                default:
                    request.Verdict = "dhcp-ignored";
                    break;
            }
        }

        if (reply is not null)
        {
            Send(ref request, message, reply, detail);
        }

        Record(ref request, detail);
    }

    private DhcpMessage? OnRequest(ref UdpRequest request, DhcpMessage message, string key, IPAddress server, DhcpPool pool, IPAddress tftp, DateTimeOffset now, Dictionary<string, string> detail)
    {
        if (message.GetAddress(DhcpOption.ServerIdentifier) is { } chosen && !chosen.Equals(server))
        {
            // SELECTING another server's offer (RFC 2131 §4.3.2): ours is withdrawn, and nothing is sent.
            request.Verdict = "dhcp-request-other-server";
            detail["serverIdentifier"] = chosen.ToString();
            Free(key);
            return null;
        }

        var wanted = message.GetAddress(DhcpOption.RequestedAddress) ?? (message.ClientAddress.Equals(IPAddress.Any) ? null : message.ClientAddress);
        detail["requested"] = wanted?.ToString() ?? "none";
        if (wanted is not null && _leases.TryGetValue(key, out var lease) && lease.Address == DhcpPool.ToNumber(wanted) && (lease.Bound || lease.Expires > now))
        {
            lease.Bound = true;
            lease.Expires = now + _options.LeaseTime;
            request.Verdict = "dhcp-ack";
            return Answer(message, DhcpMessageType.Ack, server, wanted, pool, tftp);
        }

        request.Verdict = "dhcp-nak";
        var nak = Reply(message, DhcpMessageType.Nak, server);
        nak.Set(DhcpOption.Message, Encoding.ASCII.GetBytes(wanted is null ? "no address requested" : $"{wanted} was not offered to this client"));
        if (!message.RelayAddress.Equals(IPAddress.Any))
        {
            nak.Broadcast = true;
        }

        return nak;
    }

    /// <summary>Sends the reply where RFC 2131 §4.1 says (see the class summary); failures are recorded, never thrown.</summary>
    private void Send(ref UdpRequest request, DhcpMessage message, DhcpMessage reply, Dictionary<string, string> detail)
    {
        IPEndPoint destination;
        if (!message.RelayAddress.Equals(IPAddress.Any))
        {
            destination = new IPEndPoint(message.RelayAddress, WantsSourcePort(message) ? request.Peer.Port : 67);
        }
        else if (reply.MessageType != DhcpMessageType.Nak && !message.ClientAddress.Equals(IPAddress.Any))
        {
            destination = new IPEndPoint(message.ClientAddress, 68);
        }
        else
        {
            destination = new IPEndPoint(Broadcast, 68);
        }

        var n = DhcpCodec.Write(reply, _out);
        detail["replyTo"] = destination.ToString();
        try
        {
            var to = _socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(destination.Address.MapToIPv6(), destination.Port) : destination;
            var sent = UdpArrival.SendTo(_socket, _out.AsSpan(0, n), to.Serialize(), ArrivalAddress.From(reply.GetAddress(DhcpOption.ServerIdentifier)!));
            _listener.Sent(sent);
        }
        catch (SocketException ex)
        {
            detail["sendError"] = ex.SocketErrorCode.ToString();
        }
    }

    private static bool WantsSourcePort(DhcpMessage message)
    {
        var info = message.Get(DhcpOption.RelayAgentInformation);
        for (var at = 0; info is not null && at + 1 < info.Length; at += 2 + info[at + 1])
        {
            if (info[at] == DhcpOption.RelaySourcePortSubOption)
            {
                return true;
            }
        }

        return false;
    }

    private DhcpMessage Answer(DhcpMessage request, DhcpMessageType type, IPAddress server, IPAddress? yours, DhcpPool pool, IPAddress tftp)
    {
        var reply = Reply(request, type, server);
        var lease = (uint)_options.LeaseTime.TotalSeconds;
        if (yours is not null)
        {
            reply.YourAddress = yours;
            reply.Set(DhcpOption.LeaseTime, lease);
            reply.Set(DhcpOption.RenewalTime, lease / 2);
            reply.Set(DhcpOption.RebindingTime, lease / 8 * 7);
        }

        reply.ServerAddress = tftp;
        reply.Set(DhcpOption.SubnetMask, DhcpPool.ToAddress(pool.Mask));
        reply.Set(DhcpOption.TftpServerAddress, tftp);
        reply.Set(DhcpOption.TftpServerName, Encoding.ASCII.GetBytes(tftp.ToString()));
        return reply;
    }

    private static DhcpMessage Reply(DhcpMessage request, DhcpMessageType type, IPAddress server)
    {
        var reply = new DhcpMessage
        {
            Op = 2,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = request.ClientHardwareAddress,
        };
        reply.Set(DhcpOption.MessageType, [(byte)type]);
        reply.Set(DhcpOption.ServerIdentifier, server);
        if (request.Get(DhcpOption.RelayAgentInformation) is { } info)
        {
            // RFC 3046 §2.2: the relay agent information goes back to the relay as it came.
            reply.Set(DhcpOption.RelayAgentInformation, info);
        }

        return reply;
    }

    /// <summary>The client's identifier (option 61), else its hardware address (RFC 2131 §4.2).</summary>
    private static string ClientKey(DhcpMessage message) =>
        message.Get(DhcpOption.ClientIdentifier) is { Length: > 0 } id ? "id:" + Convert.ToHexString(id) : "hw:" + message.HardwareType.ToString(CultureInfo.InvariantCulture) + ":" + message.HardwareAddressText;

    /// <summary>The pool of a request: --dhcp-pool, else the subnet given, capped at <see cref="DhcpOptions.MaxPoolSize"/> addresses.</summary>
    private DhcpPool Pool(uint address, int prefix)
    {
        var pool = _options.Pool ?? DhcpPool.OfSubnet(address, prefix);
        return pool.Count > DhcpOptions.MaxPoolSize ? pool with { Last = pool.First + DhcpOptions.MaxPoolSize - 1 } : pool;
    }

    /// <summary>
    /// An address for the client: the one it holds, else the one it asks for when free, else the first free one of the
    /// pool (never the server's or the relay's own). Null when the pool is full. Held as an offer until it is requested.
    /// </summary>
    private IPAddress? Allocate(string key, IPAddress? requested, DhcpPool pool, IPAddress server, IPAddress relay, DateTimeOffset now)
    {
        if (_leases.TryGetValue(key, out var held) && pool.Contains(held.Address))
        {
            held.Expires = held.Bound ? held.Expires : now + _options.OfferHold;
            return DhcpPool.ToAddress(held.Address);
        }

        var excluded = (DhcpPool.ToNumber(server), DhcpPool.ToNumber(relay));
        bool IsFree(uint a) => a != excluded.Item1 && a != excluded.Item2 &&
            (!_holders.TryGetValue(a, out var holder) || !_leases.TryGetValue(holder, out var l) || l.Expires <= now);

        uint? chosen = requested is not null && pool.Contains(DhcpPool.ToNumber(requested)) && IsFree(DhcpPool.ToNumber(requested)) ? DhcpPool.ToNumber(requested) : null;
        for (var a = pool.First; chosen is null && a <= pool.Last && a >= pool.First; a++)
        {
            if (IsFree(a))
            {
                chosen = a;
            }
        }

        if (chosen is not { } address)
        {
            return null;
        }

        Free(key);
        if (_holders.TryGetValue(address, out var previous))
        {
            _leases.Remove(previous);
        }

        _leases[key] = new Lease(address, now + _options.OfferHold, bound: false);
        _holders[address] = key;
        return DhcpPool.ToAddress(address);
    }

    private void Free(string key)
    {
        if (_leases.Remove(key, out var lease))
        {
            _holders.Remove(lease.Address);
        }
    }

    /// <summary>
    /// The node's address for this request and its prefix length: the address it arrived on, or for a broadcast the
    /// IPv4 address of the interface it came in on; the listener's own address when neither is known.
    /// </summary>
    private (IPAddress Address, int Prefix) ServerAddress(ref UdpRequest request)
    {
        var local = request.Local.ToIPAddress();
        if (local is { AddressFamily: AddressFamily.InterNetwork } && !local.Equals(Broadcast) && !local.Equals(IPAddress.Any))
        {
            return (local, Interfaces().PrefixOf(local) ?? 24);
        }

        if (request.Local.InterfaceIndex > 0 && Interfaces().AddressOf(request.Local.InterfaceIndex) is { } found)
        {
            return found;
        }

        var fallback = request.Listener.Address is { AddressFamily: AddressFamily.InterNetwork } bound && !bound.Equals(IPAddress.Any) ? bound : _context.ExternalAddress;
        return (fallback, 24);
    }

    private InterfaceSnapshot Interfaces()
    {
        var snapshot = _interfaces;
        if (snapshot is null || _context.Time.GetUtcNow() - snapshot.Taken > TimeSpan.FromSeconds(10))
        {
            _interfaces = snapshot = InterfaceSnapshot.Take(_context.Time.GetUtcNow());
        }

        return snapshot;
    }

    /// <summary>The IPv4 addresses of the host's interfaces, read at most every ten seconds.</summary>
    private sealed class InterfaceSnapshot
    {
        private readonly List<(int Index, IPAddress Address, int Prefix)> _addresses = [];

        public DateTimeOffset Taken { get; private init; }

        public static InterfaceSnapshot Take(DateTimeOffset now)
        {
            var snapshot = new InterfaceSnapshot { Taken = now };
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                var properties = nic.GetIPProperties();
                var index = properties.GetIPv4Properties()?.Index ?? -1;
                foreach (var unicast in properties.UnicastAddresses.Where(u => u.Address.AddressFamily == AddressFamily.InterNetwork))
                {
                    snapshot._addresses.Add((index, unicast.Address, unicast.PrefixLength));
                }
            }

            return snapshot;
        }

        public int? PrefixOf(IPAddress address) => _addresses.Where(a => a.Address.Equals(address)).Select(a => (int?)a.Prefix).FirstOrDefault();

        public (IPAddress, int)? AddressOf(int index) =>
            _addresses.Where(a => a.Index == index && !IPAddress.IsLoopback(a.Address)).Select(a => ((IPAddress, int)?)(a.Address, a.Prefix)).FirstOrDefault()
            ?? _addresses.Where(a => a.Index == index).Select(a => ((IPAddress, int)?)(a.Address, a.Prefix)).FirstOrDefault();
    }

    /// <summary>One ledger record per message, at most <see cref="MaxRecordsPerSecond"/> a second.</summary>
    private void Record(ref UdpRequest request, Dictionary<string, string> detail)
    {
        var second = _context.Time.GetTimestamp() / _context.Time.TimestampFrequency;
        if (_window != second)
        {
            (_window, _recorded) = (second, 0);
        }

        if (++_recorded > MaxRecordsPerSecond)
        {
            Suppressed++;
            return;
        }

        var local = detail.TryGetValue("server", out var server) ? server + ":" + _listener.BoundEndPoint?.Port.ToString(CultureInfo.InvariantCulture) : _listener.LocalText;
        _context.Ledger.Append(_listener.Record("dhcp", local, Text.EndPoint(request.Peer)) with
        {
            Verdict = request.Verdict,
            BytesIn = request.Data.Length,
            Detail = detail,
        });
    }
}
