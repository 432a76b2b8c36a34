namespace CucmSim.Catalog;

/// <summary>Checks a whole profile and reports every problem, not just the first.</summary>
public static class ProfileValidator
{
    public static void Validate(Profile profile, List<ProfileProblem> problems)
    {
        foreach (var flow in profile.Flows)
        {
            var label = $"flow '{flow.Id}'";
            if (flow.Table < 1 || flow.Table > 99)
            {
                problems.Add(new(flow.Location, $"{label}: table {flow.Table} is out of range (1-99)"));
            }

            if (!profile.Roles.ContainsKey(flow.From))
            {
                problems.Add(new(flow.Location, $"{label}: unknown role '{flow.From}' in 'from' (roles: {string.Join(", ", profile.Roles.Keys)})"));
            }

            if (!profile.Roles.ContainsKey(flow.To))
            {
                problems.Add(new(flow.Location, $"{label}: unknown role '{flow.To}' in 'to' (roles: {string.Join(", ", profile.Roles.Keys)})"));
            }

            if (!ProtocolCatalog.TryGet(flow.Protocol, out var protocol))
            {
                problems.Add(new(flow.Location, $"{label}: unknown protocol '{flow.Protocol}' (protocols: {string.Join(", ", ProtocolCatalog.Protocols.Select(p => p.Id))})"));
            }
            else if (!ProtocolCatalog.Allows(protocol, flow.Transport))
            {
                problems.Add(new(flow.Location, $"{label}: protocol '{flow.Protocol}' cannot use transport '{flow.Transport.ToString().ToLowerInvariant()}' (it uses {Describe(protocol.Transports)})"));
            }

            if (flow.Transport == Transport.Ip && flow.Ports.IsEphemeral)
            {
                problems.Add(new(flow.Location, $"{label}: transport 'ip' takes IP protocol numbers, not ephemeral ports"));
            }
        }

        CheckListeners(profile, problems);
    }

    /// <summary>
    /// One (role, transport, port) answers one protocol. Two flows that share a port with the same protocol
    /// share a listener; with different protocols they conflict: a duplicate listener when both name single
    /// ports, overlapping ranges when either is a range.
    /// </summary>
    private static void CheckListeners(Profile profile, List<ProfileProblem> problems)
    {
        var bindable = profile.Flows.Where(f => f.IsBindable).ToList();
        var reported = new HashSet<(string, string)>();
        foreach (var group in bindable.GroupBy(f => f.To))
        {
            var list = group.ToList();
            for (var i = 0; i < list.Count; i++)
            {
                for (var j = i + 1; j < list.Count; j++)
                {
                    var a = list[i];
                    var b = list[j];
                    // The RTP pool yields its ports to fixed listeners (the guide puts the Compaq agents inside
                    // CUCM's media range); only two fixed listeners can truly conflict.
                    if (a.Protocol == b.Protocol || a.Protocol == "rtp" || b.Protocol == "rtp" ||
                        !((a.HasTcp && b.HasTcp) || (a.HasUdp && b.HasUdp)))
                    {
                        continue;
                    }

                    var shared = FirstShared(a.Ports, b.Ports);
                    if (shared is null || !reported.Add((a.Id, b.Id)))
                    {
                        continue;
                    }

                    var transport = a.HasTcp && b.HasTcp ? "tcp" : "udp";
                    var message = a.Ports.IsRange || b.Ports.IsRange
                        ? $"overlapping ranges on role '{group.Key}': flow '{b.Id}' ({b.Protocol}, {b.Ports}/{transport}) overlaps flow '{a.Id}' ({a.Protocol}, {a.Ports}/{transport}, {a.Location}) at port {shared}"
                        : $"duplicate listener {transport}/{shared} on role '{group.Key}': flow '{b.Id}' ({b.Protocol}) and flow '{a.Id}' ({a.Protocol}, {a.Location}); one port answers one protocol";
                    problems.Add(new(b.Location, message));
                }
            }
        }
    }

    private static int? FirstShared(PortSet a, PortSet b)
    {
        foreach (var ra in a.Ranges)
        {
            foreach (var rb in b.Ranges)
            {
                if (ra.Overlaps(rb))
                {
                    return Math.Max(ra.Low, rb.Low);
                }
            }
        }

        return null;
    }

    private static string Describe(Transports transports) =>
        string.Join(" or ", new[] { (Transports.Tcp, "tcp"), (Transports.Udp, "udp"), (Transports.Ip, "ip") }
            .Where(t => transports.HasFlag(t.Item1)).Select(t => t.Item2));
}
