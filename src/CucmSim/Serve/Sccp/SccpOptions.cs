using CucmSim.Protocols.Sccp;

namespace CucmSim.Serve.Sccp;

/// <summary>How the SCCP listeners (2000, and 2443 over TLS) answer phones.</summary>
public sealed record SccpOptions
{
    /// <summary>Keepalive interval sent in RegisterAck, seconds (CUCM's default is 30).</summary>
    public int KeepAliveSeconds { get; init; } = 30;

    /// <summary>Intervals without a KeepAlive after which a phone is unregistered and its connection closed.</summary>
    public int KeepAliveMisses { get; init; } = 3;

    /// <summary>Highest protocol version this node offers; RegisterAck carries min(phone's, this).</summary>
    public int MaxProtocolVersion { get; init; } = 22;

    /// <summary>Largest data_length accepted; longer frames close the connection.</summary>
    public int MaxDataLength { get; init; } = SccpFraming.DefaultMaxDataLength;

    /// <summary>Device names that may register (regular expression; null: any).</summary>
    public string? DeviceNamePattern { get; init; }

    /// <summary>Registered devices of the node beyond which registrations are rejected (0: no limit).</summary>
    public int MaxDevices { get; init; }

    /// <summary>Fault injection for training: reject every registration.</summary>
    public bool RejectAll { get; init; }

    /// <summary>Number that answers when dialled (digits complete at its length or at '#').</summary>
    public string TestExtension { get; init; } = "1000";

    /// <summary>OffHook alone opens media (no digits).</summary>
    public bool AutoAnswer { get; init; }

    /// <summary>Lines offered in ButtonTemplateRes; each line's directory number is <see cref="SccpDirectory.Number"/> of the device name and line.</summary>
    public int Lines { get; init; } = 1;

    /// <summary>Send the addresses seen back to the phone in DisplayNotify (mirror).</summary>
    public bool Mirror { get; init; } = true;

    /// <summary>Testing only: write each message in two TCP segments, which ASA inspection drops.</summary>
    public bool Fragment { get; init; }
}
