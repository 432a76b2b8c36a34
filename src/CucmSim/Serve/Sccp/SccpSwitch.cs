using System.Net;
using System.Runtime.CompilerServices;

namespace CucmSim.Serve.Sccp;

/// <summary>Where a call between two SCCP phones stands.</summary>
internal enum SccpRouteStage
{
    Ringing,
    Connected,
    Ended,
}

/// <summary>
/// A call from one registered SCCP phone to the directory number of another. The server drives both phones and
/// gives each the other's media address (OpenReceiveChannelAck of one → StartMediaTransmission of the other), so
/// RTP flows directly between them. Its mutable state is guarded by the switch's lock.
/// </summary>
internal sealed class SccpRoute
{
    public required uint Id { get; init; }
    public required SccpSession Caller { get; init; }
    public required SccpSession Callee { get; init; }
    public required uint CallerLine { get; init; }
    public required uint CallerReference { get; init; }
    public required uint CalleeLine { get; init; }
    public required uint CalleeReference { get; init; }
    public required string Dialled { get; init; }
    public required long Started { get; init; }
    public uint CallerPassThrough { get; set; }
    public uint CalleePassThrough { get; set; }
    public IPEndPoint? CallerMedia { get; set; }
    public IPEndPoint? CalleeMedia { get; set; }
    public SccpRouteStage Stage { get; set; }
    public long AnsweredAt { get; set; }
    public ITimer? Ring { get; set; }
}

/// <summary>
/// The directory numbers of the SCCP phones registered on a node (both listeners, 2000 and 2443), and the lock of
/// the calls between them.
/// </summary>
internal sealed class SccpSwitch
{
    private static readonly ConditionalWeakTable<ServeContext, SccpSwitch> Switches = [];
    private static long s_reference = 0x4000_0000;
    private readonly Dictionary<string, (SccpSession Session, uint Line)> _numbers = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _sorted = new(StringComparer.Ordinal);

    public static SccpSwitch For(ServeContext context) => Switches.GetValue(context, _ => new SccpSwitch());

    /// <summary>Guards the directory and every <see cref="SccpRoute"/> and <see cref="SccpSession.Route"/>.</summary>
    public Lock Lock { get; } = new();

    /// <summary>Call references of calls the server offers a phone (unique on the node).</summary>
    public static uint NextReference() => (uint)Interlocked.Increment(ref s_reference);

    public void Add(SccpSession session, string number, uint line)
    {
        lock (Lock)
        {
            _numbers[number] = (session, line);
            _sorted.Add(number);
        }
    }

    /// <summary>Removes the numbers while they still belong to <paramref name="session"/> (a newer registration keeps them).</summary>
    public void Remove(SccpSession session, IEnumerable<string> numbers)
    {
        lock (Lock)
        {
            foreach (var number in numbers)
            {
                if (_numbers.TryGetValue(number, out var entry) && ReferenceEquals(entry.Session, session))
                {
                    _numbers.Remove(number);
                    _sorted.Remove(number);
                }
            }
        }
    }

    public bool TryFind(string number, out SccpSession? session, out uint line)
    {
        lock (Lock)
        {
            var found = _numbers.TryGetValue(number, out var entry);
            (session, line) = found ? entry : (null, 0);
            return found;
        }
    }

    /// <summary>True when a registered number is longer than <paramref name="prefix"/> and starts with it: dialling goes on.</summary>
    public bool ExtendsBeyond(string prefix)
    {
        lock (Lock)
        {
            return _sorted.GetViewBetween(prefix, prefix + char.MaxValue).Any(n => n.Length > prefix.Length);
        }
    }
}
