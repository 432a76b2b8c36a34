using System.Collections.Concurrent;

namespace CucmSim.Serve;

/// <summary>A registered device as SCCP or SIP saw it, and as the control API, SNMP and AXL read it.</summary>
public sealed record DeviceRecord(
    string Name,
    string Protocol,
    string Type,
    int? ProtocolVersion,
    string? EmbeddedAddress,
    string SeenAddress,
    string Listener,
    DateTimeOffset Since)
{
    /// <summary>True when the address the device put in its messages differs from the one seen: NAT or a rewrite.</summary>
    public bool AddressDiffers => EmbeddedAddress is not null && !SeenAddress.StartsWith(EmbeddedAddress + ":", StringComparison.Ordinal) && EmbeddedAddress != SeenAddress;
}

/// <summary>The devices registered with this node (SCCP phones, SIP registrations), with counters.</summary>
public sealed class DeviceRegistry
{
    private readonly ConcurrentDictionary<string, DeviceRecord> _devices = new(StringComparer.OrdinalIgnoreCase);
    private long _registrations;
    private long _unregistrations;
    private long _rejections;

    public int Count => _devices.Count;
    public long Registrations => Interlocked.Read(ref _registrations);
    public long Unregistrations => Interlocked.Read(ref _unregistrations);
    public long Rejections => Interlocked.Read(ref _rejections);

    /// <summary>Raised after a device registers or unregisters (not on the hot path of anything else).</summary>
    public event Action<DeviceRecord, bool>? Changed;

    public void Register(DeviceRecord device)
    {
        _devices[device.Name] = device;
        Interlocked.Increment(ref _registrations);
        Changed?.Invoke(device, true);
    }

    public bool Unregister(string name)
    {
        if (!_devices.TryRemove(name, out var device))
        {
            return false;
        }

        Interlocked.Increment(ref _unregistrations);
        Changed?.Invoke(device, false);
        return true;
    }

    public void Rejected() => Interlocked.Increment(ref _rejections);

    public bool TryGet(string name, out DeviceRecord? device) => _devices.TryGetValue(name, out device);

    public IReadOnlyList<DeviceRecord> Snapshot() => _devices.Values.OrderBy(d => d.Name, StringComparer.Ordinal).ToList();
}
