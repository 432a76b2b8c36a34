using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using CucmSim.Protocols.Ldap;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.Ldap;

/// <summary>
/// LDAPv3 (RFC 4511) for CUCM's directory sync and authentication on 389 and 3268, and over TLS on 636 and 3269:
/// simple bind (anonymous, the manager DN, each user's DN), search of the built-in directory
/// (<see cref="LdapDirectory"/>), "Who am I?", abandon and unbind. Write operations get unwillingToPerform,
/// StartTLS unavailable, an unknown extended operation protocolError; a message that cannot be framed or decoded
/// gets the Notice of Disconnection (protocolError) and the connection is closed (§4.1.1).
/// </summary>
internal sealed class LdapProtocol : ITcpProtocol
{
    private readonly bool _tls;

    public LdapProtocol(bool tls) => _tls = tls;

    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "ldap-silent";
        session.Detail = [];
        var state = new State(listener, session, connection.Transport.Output);
        try
        {
            await TcpReadLoop.RunAsync(connection, context, (in ReadOnlySequence<byte> buffer, out bool close) =>
            {
                var consumed = Process(buffer, state, out close);
                session.BytesIn += buffer.Slice(0, consumed).Length;
                return consumed;
            }).ConfigureAwait(false);
        }
        finally
        {
            session.Detail["binds"] = state.Binds.ToString(CultureInfo.InvariantCulture);
            session.Detail["searches"] = state.Searches.ToString(CultureInfo.InvariantCulture);
            session.Detail["entries"] = state.Entries.ToString(CultureInfo.InvariantCulture);
        }
    }

    private sealed class State(ListenerRuntime listener, TcpSessionFeature session, PipeWriter output)
    {
        public ListenerRuntime Listener { get; } = listener;
        public TcpSessionFeature Session { get; } = session;
        public PipeWriter Output { get; } = output;

        /// <summary>The DN of the last successful bind; empty when anonymous.</summary>
        public string BoundDn { get; set; } = string.Empty;

        public int Binds { get; set; }
        public int Searches { get; set; }
        public int Entries { get; set; }
    }

    private SequencePosition Process(in ReadOnlySequence<byte> buffer, State state, out bool close)
    {
        var reader = new SequenceReader<byte>(buffer);
        close = false;
        while (!close)
        {
            var status = LdapCodec.TryReadMessage(ref reader, out var message, out var frameError);
            if (status == OperationStatus.NeedMoreData)
            {
                break;
            }

            if (status == OperationStatus.InvalidData)
            {
                Disconnect(state, frameError!, reader.UnreadSequence);
                reader.AdvanceToEnd();
                close = true;
                break;
            }

            if (!LdapCodec.TryReadRequest(message.ToArray(), out var request, out _, out var error))
            {
                Disconnect(state, error!, message);
                close = true;
                break;
            }

            close = Handle(request!, state);
        }

        return reader.Position;
    }

    /// <summary>Answers one request; true when the connection ends (unbind).</summary>
    private bool Handle(LdapRequest request, State state)
    {
        switch (request)
        {
            case LdapBindRequest bind:
                Bind(bind, state);
                return false;
            case LdapSearchRequest search:
                Search(search, state);
                return false;
            case LdapUnbindRequest:
                if (state.Session.Verdict == "ldap-silent")
                {
                    state.Session.Verdict = "ldap-unbind";
                }

                state.Session.Detail!["unbind"] = "yes";
                return true;
            case LdapAbandonRequest:
                // Every operation is answered at once: nothing is left to abandon, and abandon has no response.
                return false;
            case LdapExtendedRequest extended:
                Extended(extended, state);
                return false;
            case LdapOtherRequest other:
                state.Session.Detail!["refused"] = other.Operation.ToString();
                Write(state, LdapCodec.WriteResult(other.MessageId, other.Operation + 1, LdapResultCode.UnwillingToPerform, diagnostic: "the directory is read-only"));
                return false;
            default:
                return false;
        }
    }

    private static void Bind(LdapBindRequest bind, State state)
    {
        state.Binds++;
        var detail = state.Session.Detail!;
        detail["bindDn"] = bind.Name;
        LdapResultCode code;
        string diagnostic;
        if (bind.Version != 3)
        {
            (code, diagnostic) = (LdapResultCode.ProtocolError, $"LDAP version {bind.Version} is not supported: use 3");
        }
        else if (bind.Password is null)
        {
            (code, diagnostic) = (LdapResultCode.AuthMethodNotSupported, $"SASL {bind.SaslMechanism} is not supported: use a simple bind");
        }
        else if (bind.Name.Length == 0 && bind.Password.Length == 0)
        {
            (code, diagnostic) = (LdapResultCode.Success, string.Empty);
        }
        else if (bind.Password.Length == 0)
        {
            // RFC 4513 §5.1.2: an unauthenticated bind (a name, no password) is refused.
            (code, diagnostic) = (LdapResultCode.UnwillingToPerform, "unauthenticated bind (a DN without a password) is not allowed");
        }
        else if (IsKnown(bind.Name) && bind.Password == LdapDirectory.AdminPassword)
        {
            (code, diagnostic) = (LdapResultCode.Success, string.Empty);
        }
        else
        {
            (code, diagnostic) = (LdapResultCode.InvalidCredentials, "invalid credentials");
        }

        state.BoundDn = code == LdapResultCode.Success ? bind.Name : string.Empty;
        detail["bind"] = ResultName(code);
        if (state.Session.Verdict is "ldap-silent" or "ldap-bind" or "ldap-bind-failed" or "ldap-unbind")
        {
            state.Session.Verdict = code == LdapResultCode.Success ? "ldap-bind" : "ldap-bind-failed";
        }

        Write(state, LdapCodec.WriteResult(bind.MessageId, LdapOperation.BindResponse, code, diagnostic: diagnostic));
    }

    /// <summary>The manager DN and every user entry (each user's password is the manager's: docs/ldap.md).</summary>
    private static bool IsKnown(string dn)
    {
        var normalized = LdapDirectory.Normalize(dn);
        return LdapDirectory.Instance.Entries.Any(e => e.NormalizedDn == normalized && e.Get("objectClass").Contains("person", StringComparer.OrdinalIgnoreCase));
    }

    private static void Search(LdapSearchRequest search, State state)
    {
        state.Searches++;
        var detail = state.Session.Detail!;
        detail["base"] = search.BaseObject;
        detail["scope"] = search.Scope.ToString();
        detail["filter"] = search.Filter.ToString();
        state.Session.Verdict = "ldap-search";
        List<LdapControl>? responseControls = null;
        foreach (var control in search.Controls)
        {
            if (control.Type == LdapOids.PagedResults)
            {
                // One page holds the whole (small) answer: the cookie that ends paging is empty.
                responseControls = [new LdapControl(LdapOids.PagedResults, false, LdapCodec.WritePagedResultsValue(0, []))];
            }
            else if (control.Criticality)
            {
                detail["search"] = ResultName(LdapResultCode.UnavailableCriticalExtension);
                Write(state, LdapCodec.WriteResult(search.MessageId, LdapOperation.SearchResultDone, LdapResultCode.UnavailableCriticalExtension,
                    diagnostic: $"critical control {control.Type} is not supported"));
                return;
            }
        }

        var outcome = LdapDirectory.Instance.Search(search);
        foreach (var entry in outcome.Entries)
        {
            Write(state, LdapCodec.WriteSearchEntry(search.MessageId, entry.Dn, LdapDirectory.Select(entry, search.Attributes), search.TypesOnly));
            state.Entries++;
        }

        detail["search"] = ResultName(outcome.Code);
        Write(state, LdapCodec.WriteResult(search.MessageId, LdapOperation.SearchResultDone, outcome.Code, outcome.MatchedDn, outcome.Diagnostic, controls: responseControls));
    }

    private void Extended(LdapExtendedRequest extended, State state)
    {
        state.Session.Detail!["extended"] = extended.Name;
        byte[] answer = extended.Name switch
        {
            LdapOids.StartTls => LdapCodec.WriteResult(extended.MessageId, LdapOperation.ExtendedResponse, _tls ? LdapResultCode.OperationsError : LdapResultCode.Unavailable,
                diagnostic: _tls ? "TLS is already established" : "StartTLS is not offered: use LDAPS (636, 3269)", responseName: LdapOids.StartTls),
            LdapOids.WhoAmI => LdapCodec.WriteResult(extended.MessageId, LdapOperation.ExtendedResponse, LdapResultCode.Success,
                responseValue: Encoding.UTF8.GetBytes(state.BoundDn.Length == 0 ? string.Empty : "dn:" + state.BoundDn)),
            _ => LdapCodec.WriteResult(extended.MessageId, LdapOperation.ExtendedResponse, LdapResultCode.ProtocolError, diagnostic: $"unknown extended operation {extended.Name}"),
        };
        Write(state, answer);
    }

    /// <summary>RFC 4511 §4.1.1 and §4.4.1: an undecodable PDU gets the Notice of Disconnection, then the server closes.</summary>
    private static void Disconnect(State state, string error, in ReadOnlySequence<byte> data)
    {
        state.Listener.MalformedInput();
        state.Session.Verdict = "ldap-malformed";
        state.Session.Detail!["error"] = error;
        state.Session.Detail["first"] = Text.Escape(data.Slice(0, Math.Min(data.Length, 64)));
        Write(state, LdapCodec.WriteNoticeOfDisconnection(LdapResultCode.ProtocolError, error));
    }

    private static void Write(State state, byte[] bytes)
    {
        state.Output.Write(bytes);
        state.Session.BytesOut += bytes.Length;
    }

    private static string ResultName(LdapResultCode code) =>
        char.ToLowerInvariant(code.ToString()[0]) + code.ToString()[1..] + " (" + ((int)code).ToString(CultureInfo.InvariantCulture) + ")";
}
