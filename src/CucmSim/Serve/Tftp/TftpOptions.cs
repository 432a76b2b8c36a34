using CucmSim.Catalog;

namespace CucmSim.Serve.Tftp;

/// <summary>Where the data of a TFTP transfer is sent from.</summary>
public enum TftpPortMode
{
    /// <summary>A fresh ephemeral port per transfer: the transfer ID of RFC 1350 §4, what CUCM does.</summary>
    Ephemeral,

    /// <summary>A port from a pinned range per transfer (firewall rules and container port maps).</summary>
    Range,

    /// <summary>Every transfer from the listener's own port (NAT that cannot follow a new port; not RFC behaviour).</summary>
    Single,
}

/// <summary>Phone provisioning: TFTP (69, 6969), HTTP 6970 and HTTPS 6971/6972 content and transfer settings.</summary>
public sealed record TftpOptions
{
    /// <summary>Directory whose files are served (matched case-insensitively); null serves generated files only.</summary>
    public string? Root { get; init; }

    public TftpPortMode PortMode { get; init; } = TftpPortMode.Ephemeral;

    /// <summary>The data ports of <see cref="TftpPortMode.Range"/>.</summary>
    public PortRange? DataPorts { get; init; }

    /// <summary>Transfers at once over all TFTP listeners; further requests get ERROR 0 "busy".</summary>
    public int MaxTransfers { get; init; } = 2048;

    /// <summary>Retransmission timeout when the client does not ask for one (RFC 2349 timeout option).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Retransmissions of one packet (or window) before the transfer is given up as timed out.</summary>
    public int Retries { get; init; } = 5;

    /// <summary>Largest blksize granted (RFC 2348 lets the server answer a smaller one).</summary>
    public int MaxBlockSize { get; init; } = 65464;

    /// <summary>Largest windowsize granted (RFC 7440 lets the server answer a smaller one).</summary>
    public int MaxWindowSize { get; init; } = 64;

    /// <summary>Flavour of the generated SEP&lt;MAC&gt;.cnf.xml: "sip" or "sccp".</summary>
    public string DeviceProtocol { get; init; } = "sip";

    /// <summary>Files up to this size are kept in memory between transfers; larger ones are read per block.</summary>
    public long CacheFileLimit { get; init; } = 64L * 1024 * 1024;

    /// <summary>Total size of the file cache.</summary>
    public long CacheLimit { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// Sends a window of cached blocks as one UDP generic segmentation offload send (Linux UDP_SEGMENT, 4.18):
    /// the kernel cuts it into one datagram per block before the receiving socket (or the wire) sees it, at a
    /// fraction of the cost of a send per block. Off by default (--tftp-gso turns it on): until that cut, the
    /// window is one large datagram, and that is what a capture on the emulator host, its own netfilter, and a
    /// firewall or capture in a network namespace or container behind a veth would see, where a lab expects one
    /// DATA packet per block. Off, a window leaves as one sendmmsg of one datagram per block. A route that
    /// refuses it (MTU below a block, no checksum offload) falls back to that.
    /// </summary>
    public bool Segmentation { get; init; }
}
