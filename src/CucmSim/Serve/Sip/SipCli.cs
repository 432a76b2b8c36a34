using System.CommandLine;
using System.Net;
using CucmSim.Cli;

namespace CucmSim.Serve.Sip;

/// <summary>The serve command's SIP options, each declared once with what it sets in <see cref="SipOptions"/>.</summary>
internal static class SipCli
{
    public static void Declare(Declared<SipOptions> o)
    {
        var d = new SipOptions();
        o.Add(new Option<string>("--sip-realm") { HelpName = "REALM", Description = "digest realm of the REGISTER, INVITE and BYE challenges", DefaultValueFactory = _ => d.Realm }.LastWins(),
            (s, v) => s with { Realm = v });
        o.Add(new Option<AdminWeb.Credentials[]>("--sip-user") { HelpName = "USER:PW", Description = "a digest user, repeatable (REGISTER, a new INVITE and BYE are challenged once any is set)" }.Repeatable<AdminWeb.Credentials>(AdminWeb.Credentials.Read),
            (s, v) => s with { Users = v.GroupBy(u => u.User, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Password, StringComparer.Ordinal) });
        o.Add(new Option<string?>("--sip-password") { HelpName = "PW", Description = "a password any user name may register with" }.Optional(),
            (s, v) => s with { Password = v });
        o.Add(new Option<bool>("--sip-cucm-503") { Description = "answer peers that are neither trunks nor registered like CUCM: 503 \"Unable to find a device handler\" (what nmap -sV identifies as Cisco Unified Communications Manager)" },
            (s, v) => s with { UnknownPeer503 = v });
        o.Add(new Option<IPAddress[]>("--sip-trunk-peer") { HelpName = "ADDR", Description = "an address treated as a configured trunk (with --sip-cucm-503; its INVITEs and BYEs are not challenged for digest), repeatable" }.Repeatable<IPAddress>(OptionKinds.Address),
            (s, v) => s with { TrunkPeers = v });
        o.Add(new Option<string?>("--sip-server-header") { HelpName = "TEXT", Description = "Server header (default Cisco-CUCM<major.minor>; '' for none)" }.Optional(),
            (s, v) => s with { ServerHeader = v });
        o.Add(new Option<bool>("--sip-no-mirror") { Description = "leave the X-CucmSim-Mirror header out of responses" },
            (s, v) => s with { Mirror = !v });
        o.Add(new Option<int>("--sip-ring-ms") { HelpName = "N", Description = "wait N ms between 180 Ringing and 200 OK", DefaultValueFactory = _ => (int)d.RingDelay.TotalMilliseconds }.Whole(0, 600_000),
            (s, v) => s with { RingDelay = TimeSpan.FromMilliseconds(v) });
        o.Add(new Option<int>("--sip-max-size") { HelpName = "BYTES", Description = "largest SIP message accepted", DefaultValueFactory = _ => d.MaxMessageSize }.Whole(1024, 1 << 20),
            (s, v) => s with { MaxMessageSize = v });
        o.Add(new Option<bool>("--sip-reply-to-via") { Description = "UDP responses to the Via sent-by port unless rport (RFC 3261 §18.2.2); default: the source port" },
            (s, v) => s with { ReplyToSourcePort = !v });
        o.Add(new Option<string>("--sip-route") { HelpName = "on|off", Description = "relay INVITEs for a registered user to that phone (phone to phone); off: the server answers every INVITE", DefaultValueFactory = _ => d.Route ? "on" : "off" }.OneOf("on", "off"),
            (s, v) => s with { Route = v == "on" });
        o.Add(new Option<int>("--sip-route-ring-s") { HelpName = "S", Description = "a routed call not answered within S seconds gets 480 and the callee a CANCEL", DefaultValueFactory = _ => (int)d.RouteRing.TotalSeconds }.Whole(1, 3600),
            (s, v) => s with { RouteRing = TimeSpan.FromSeconds(v) });
    }
}
