using System.Globalization;
using System.Runtime.CompilerServices;
using CucmSim.Protocols.H323;

namespace CucmSim.Serve.H323;

/// <summary>
/// The endpoints registered by RAS and the numbers this node answers: the test extension (the one SCCP and SIP
/// calls reach) and every dialled-digits alias registered. Shared by the RAS listener and H.225 call signalling.
/// </summary>
internal sealed class H323Directory
{
    private static readonly ConditionalWeakTable<ServeContext, H323Directory> Directories = [];

    private readonly ServeContext _context;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Registration> _byEndpoint = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private int _next;

    private H323Directory(ServeContext context) => _context = context;

    public static H323Directory For(ServeContext context) => Directories.GetValue(context, c => new H323Directory(c));

    public sealed record Registration(string EndpointId, string Name, IReadOnlyList<H225Alias> Aliases);

    /// <summary>True when a call to <paramref name="number"/> is answered here.</summary>
    public bool Knows(string? number)
    {
        if (string.IsNullOrEmpty(number))
        {
            return false;
        }

        if (number == _context.Sccp.TestExtension)
        {
            return true;
        }

        lock (_lock)
        {
            return _byEndpoint.Values.Any(r => r.Aliases.Any(a => a.Kind == AliasKind.DialledDigits && a.Value == number));
        }
    }

    /// <summary>Registers an endpoint (a new endpoint identifier each time) and names it in the device registry.</summary>
    public Registration Register(IReadOnlyList<H225Alias> aliases, H225EndpointKind kind, string embedded, string seen, string listener)
    {
        Registration registration;
        string? evicted = null;
        lock (_lock)
        {
            var id = string.Create(CultureInfo.InvariantCulture, $"EP{++_next:X6}");
            var name = aliases.FirstOrDefault(a => a.Kind == AliasKind.H323Id)?.Value ?? aliases.FirstOrDefault()?.Value ?? id;
            registration = new Registration(id, "H323:" + name, aliases);
            _byEndpoint[id] = registration;
            _order.Enqueue(id);
            if (_order.Count > _context.H323.MaxRegistrations && _byEndpoint.Remove(_order.Dequeue(), out var old))
            {
                evicted = old.Name;
            }
        }

        if (evicted is not null)
        {
            _context.Devices.Unregister(evicted);
        }

        _context.Devices.Register(new DeviceRecord(registration.Name, "h323", kind.ToString().ToLowerInvariant(), null, embedded, seen, listener, _context.Time.GetUtcNow()));
        return registration;
    }

    /// <summary>Forgets an endpoint by its identifier, or the registrations naming one of <paramref name="aliases"/>; the names forgotten.</summary>
    public List<string> Unregister(string? endpointId, IReadOnlyList<H225Alias> aliases)
    {
        List<Registration> gone;
        lock (_lock)
        {
            gone = _byEndpoint.Values.Where(r => r.EndpointId == endpointId || r.Aliases.Intersect(aliases).Any()).ToList();
            foreach (var r in gone)
            {
                _byEndpoint.Remove(r.EndpointId);
            }
        }

        foreach (var r in gone)
        {
            _context.Devices.Unregister(r.Name);
        }

        return gone.Select(r => r.Name).ToList();
    }
}
