using System.Globalization;

namespace CucmSim.Probe;

/// <summary>
/// Turns the legs' outcomes, with the server's record where there is one, into one verdict per flow with its
/// reason. Pure: the same legs and record always give the same verdict, so a saved result can be judged again
/// once the server's ledger is at hand.
/// </summary>
public static class Judge
{
    public static void Flow(FlowResult flow, ServerView server)
    {
        flow.Diffs.Clear();
        flow.Evidence.RemoveAll(e => e.StartsWith("server: ", StringComparison.Ordinal));
        if (flow.Legs.Count == 0)
        {
            flow.Verdict = Verdict.Skipped;
            return;
        }

        foreach (var leg in flow.Legs)
        {
            Leg(leg, server);
            flow.Diffs.AddRange(leg.Diffs);
        }

        var verdicts = new List<(Verdict Verdict, string Reason)>();
        foreach (var group in flow.Legs.GroupBy(l => l.Listener))
        {
            verdicts.Add(flow.Protocol == "rtp" ? (Verdict.Skipped, string.Empty) : Target(group.Key, group.ToList(), server));
        }

        if (flow.Protocol == "rtp")
        {
            var echoes = flow.Legs.Where(l => l.Role != "idle").ToList();
            var idle = flow.Legs.Where(l => l.Role == "idle").ToList();
            var answered = echoes.Count(l => l.Outcome == Outcome.Answered);
            var worst = flow.Legs.MaxBy(l => l.Verdict.Severity())!;
            flow.Verdict = worst.Verdict;
            flow.Reason = answered != echoes.Count
                ? string.Create(CultureInfo.InvariantCulture, $"{answered} of {echoes.Count} sampled media ports echo; {worst.Listener}: {worst.Detail}")
                : worst.Role == "idle" && worst.Verdict != Verdict.Allowed
                    ? string.Create(CultureInfo.InvariantCulture, $"all {answered} sampled media ports echo, but {idle.Count(l => l.Verdict == worst.Verdict)} of {idle.Count} failed the idle check; {worst.Listener}: {worst.Detail}{IdleAdvice(worst)}")
                    : string.Create(CultureInfo.InvariantCulture, $"all {answered} sampled media ports echo{(idle.Count > 0 ? ", and their delayed answers came back" : string.Empty)}");
        }
        else
        {
            var worst = verdicts.MaxBy(v => v.Verdict.Severity());
            flow.Verdict = worst.Verdict;
            flow.Reason = worst.Reason;
        }

        flow.ServerSeen = flow.Legs.Where(l => l.Role == "reachability" || l.Name == "rtp-echo").Select(l => l.ServerSeen).FirstOrDefault(s => s is not null);
        if (flow.ServerSeen is { } seen)
        {
            flow.Evidence.Add($"server: {seen.Kind} #{seen.Seq} on {seen.Listener} at {seen.Local}, peer {seen.Peer}");
        }
    }

    /// <summary>The verdict of one leg on its own.</summary>
    public static void Leg(LegResult leg, ServerView server)
    {
        leg.ServerSeen = server.Find(leg.Nonces);
        if (leg.Role == "idle")
        {
            Idle(leg, server);
            return;
        }

        var tcp = leg.Listener.StartsWith("tcp/", StringComparison.Ordinal);
        leg.Verdict = leg.Outcome switch
        {
            Outcome.Answered => leg.Diffs.Count > 0 ? Verdict.Rewritten : Verdict.Allowed,
            Outcome.NoAnswer when leg.ServerSeen is not null => Verdict.OneWay,
            Outcome.NoAnswer when server.Available || tcp || leg.Nonces.Count == 0 => Verdict.BlockedSilent,
            Outcome.NoAnswer => Verdict.Inconclusive,
            Outcome.Reset => Verdict.BlockedReset,
            Outcome.Icmp => Verdict.BlockedIcmp,
            Outcome.Incomplete => Verdict.Inconclusive,
            Outcome.ProbeError => Verdict.Error,
            _ => Verdict.Skipped,
        };
    }

    /// <summary>
    /// --idle's leg: the delayed answer came back (allowed), or it did not although the echo did (expired). With the
    /// server's record, a callback the server never sent is not the path's fault (inconclusive).
    /// </summary>
    private static void Idle(LegResult leg, ServerView server)
    {
        leg.Evidence.RemoveAll(e => e.StartsWith("server: ", StringComparison.Ordinal));
        var sent = server.Callback(leg.Nonces);
        if (sent is not null)
        {
            leg.Evidence.Add($"server: {sent.Kind} #{sent.Seq} at {sent.Time:HH:mm:ss.fff} from {sent.Local} to {sent.Peer}");
        }

        leg.Verdict = leg.Outcome switch
        {
            Outcome.Answered => Verdict.Allowed,
            Outcome.NoAnswer when sent is { Kind: "callback" } || !server.Available => Verdict.Expired,
            Outcome.NotRun => Verdict.Skipped,
            _ => Verdict.Inconclusive,
        };
    }

    /// <summary>What to do about an expired mapping.</summary>
    private static string IdleAdvice(LegResult idle) => idle.Verdict == Verdict.Expired
        ? ": the firewall or NAT forgot the UDP mapping in the silence; raise its UDP idle timeout (ASA: timeout udp, timeout sip_media) or keep the flow alive with keepalives"
        : string.Empty;

    /// <summary>One port of a flow: as <see cref="Exchange"/> judges it, unless the mapping did not outlive --idle's silence.</summary>
    private static (Verdict, string) Target(string listener, List<LegResult> legs, ServerView server)
    {
        var (verdict, reason) = Exchange(listener, legs, server);
        if (verdict is Verdict.Allowed or Verdict.Rewritten && legs.FirstOrDefault(l => l.Role == "idle" && l.Verdict is Verdict.Expired or Verdict.Inconclusive) is { } idle)
        {
            return (idle.Verdict, $"{listener}: {idle.Detail}{IdleAdvice(idle)}");
        }

        return (verdict, reason);
    }

    /// <summary>One port of a flow: the native exchange decides where there is one; the echo otherwise, and it explains a failure.</summary>
    private static (Verdict, string) Exchange(string listener, List<LegResult> legs, ServerView server)
    {
        var echo = legs.FirstOrDefault(l => l.Role == "reachability");
        var primary = legs.Where(l => l.Role == "primary").ToList();
        var secondary = legs.Where(l => l.Role == "secondary").ToList();
        if (primary.Count == 0)
        {
            return echo is null ? (Verdict.Skipped, "nothing to run") : (echo.Verdict, Explain(listener, echo, server));
        }

        var failed = primary.FirstOrDefault(l => l.Outcome is not (Outcome.Answered or Outcome.NotRun));
        if (failed is null)
        {
            var blocked = secondary.FirstOrDefault(l => l.Outcome is not (Outcome.Answered or Outcome.NotRun));
            if (blocked is not null)
            {
                return (Verdict.SecondaryBlocked, $"{listener}: {primary[0].Name} answered, but the {blocked.Name} leg failed: {blocked.Detail}");
            }

            if (legs.FirstOrDefault(l => l.Role == "mtu" && l.Outcome != Outcome.Answered) is { } mtu)
            {
                return (Verdict.MtuDrop, $"{listener}: small SIP messages pass, a large one does not ({mtu.Detail}): fragments or large datagrams are dropped on the way; use SIP over TCP, or let the path carry them");
            }

            var diffs = legs.SelectMany(l => l.Diffs).ToList();
            var details = string.Join("; ", primary.Concat(secondary).Where(l => l.Outcome == Outcome.Answered).Select(l => l.Detail));
            return diffs.Count > 0
                ? (Verdict.Rewritten, $"{listener}: {details}; rewritten on the way: {string.Join(", ", diffs.Select(d => d.Field).Distinct())}")
                : (Verdict.Allowed, $"{listener}: {details}");
        }

        if (echo?.Outcome == Outcome.Answered)
        {
            // The port is open both ways for the echo: what fails is the protocol's own exchange or its second channel.
            var lost = secondary.FirstOrDefault(l => l.Outcome != Outcome.Answered);
            if (lost is not null && failed.Outcome == Outcome.NoAnswer)
            {
                return (Verdict.SecondaryBlocked, $"{listener}: the echo passes both ways, but {failed.Name} got nothing back: the {lost.Name} leg is blocked ({lost.Detail})");
            }

            return failed.Verdict is Verdict.Error or Verdict.Inconclusive
                ? (failed.Verdict, $"{listener}: the echo passes, {failed.Name} failed: {failed.Detail}")
                : (failed.Verdict, $"{listener}: the echo passes, but {failed.Name} does not ({failed.Detail}): an inspecting middlebox drops the protocol");
        }

        return echo is null ? (failed.Verdict, $"{listener}: {failed.Detail}") : (echo.Verdict, Explain(listener, echo, server));
    }

    /// <summary>What the server's control API says of the listener, when it was read: bound means a middlebox answered.</summary>
    private static string Listening(string listener, ServerView server) =>
        !server.Available || server.Listeners.Count == 0 ? string.Empty
        : server.Listeners.TryGetValue(listener, out var state)
            ? state == "bound" ? $"; the server's {listener} is bound, so a device on the path answered" : $"; the server's {listener} is {state}"
            : $"; the server has no {listener} (another --only, --except or --port-offset?)";

    private static string Explain(string listener, LegResult echo, ServerView server)
    {
        var seen = echo.ServerSeen;
        return echo.Verdict switch
        {
            Verdict.Allowed => $"{listener}: {echo.Detail}",
            Verdict.OneWay => $"{listener}: the server saw the probe ({seen!.Kind} #{seen.Seq}, peer {seen.Peer}) but its answer never came back",
            Verdict.BlockedSilent => $"{listener}: {echo.Detail}{(echo.Listener.StartsWith("tcp/", StringComparison.Ordinal) ? " (no SYN-ACK)" : string.Empty)}; the server saw nothing",
            Verdict.BlockedReset => $"{listener}: a TCP RST answered the SYN, and the server never accepted the connection{Listening(listener, server)}",
            Verdict.BlockedIcmp => echo.Icmp is { } icmp
                ? string.Create(CultureInfo.InvariantCulture, $"{listener}: ICMP type {icmp.Type} code {icmp.Code} ({icmp.Name}) from {icmp.From ?? "an unknown sender"}")
                  + (icmp.Name == "port-unreachable" && echo.Target?.StartsWith(icmp.From + ":", StringComparison.Ordinal) == true
                      ? ": the target itself says nothing listens there (serve not running, another --port-offset, or the listener failed)"
                      : Listening(listener, server))
                : $"{listener}: {echo.Detail}",
            Verdict.Inconclusive when echo.Outcome == Outcome.NoAnswer => $"{listener}: {echo.Detail}; without the server's record (--control or --ledger) a drop and a lost answer look alike",
            _ => $"{listener}: {echo.Detail}",
        };
    }

    /// <summary>Sets expected and result from the expectations.</summary>
    public static void Expect(FlowResult flow, Expectations expectations)
    {
        flow.Expected = expectations.For(flow);
        flow.Result = flow.Verdict == Verdict.Skipped ? "skip"
            : flow.Expected switch
            {
                "allowed" => flow.Verdict == Verdict.Allowed ? "pass" : "fail",
                "denied" => flow.Verdict.IsBlocked() ? "pass" : "fail",
                var v => v == flow.VerdictName ? "pass" : "fail",
            };
    }
}
