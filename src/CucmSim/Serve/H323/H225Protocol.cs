using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using CucmSim.Protocols.H323;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.H323;

/// <summary>
/// H.225.0 call signalling on 1720/tcp (TPKT, Q.931 and the H.323 user-user information). A Setup to a number this
/// node answers (the test extension, or a number registered by RAS) gets CallProceeding, Alerting and Connect, the
/// Connect naming an H.245 address on a port of the RTP pool (<see cref="H245Channel"/>); any other number gets
/// ReleaseComplete (unallocated number). ReleaseComplete from the caller ends the call; Status Enquiry gets Status.
/// Input that is not Q.931 gets a Q.931 Status (cause 98, call state Null) as H.323 stacks answer it; a stream
/// that is not TPKT is closed. Every answer is one TPKT in one write, so inspection never sees a split header.
/// </summary>
internal sealed class H225Protocol : ITcpProtocol
{
    /// <summary>Call state values of Q.931 §4.5.7 used in Status.</summary>
    private const int StateNull = 0;
    private const int StateActive = 10;

    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "h225-malformed";
        session.Detail = [];
        var local = connection.LocalEndPoint as IPEndPoint ?? new IPEndPoint(listener.Address, 0);
        var remote = connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        var state = new Connection(listener, context, session, local.Address, H323Ports.Plain(context.Embedded(local.Address, remote.Address)), session.PeerText ?? Text.EndPoint(remote));
        try
        {
            await TcpReadLoop.RunAsync(connection, context, (in ReadOnlySequence<byte> buffer, out bool close) =>
            {
                var consumed = state.Process(buffer, connection.Transport.Output, out close);
                session.BytesIn += buffer.Slice(0, consumed).Length;
                return consumed;
            }).ConfigureAwait(false);
        }
        finally
        {
            await state.EndAllAsync("connection closed").ConfigureAwait(false);
        }
    }

    private sealed class Call
    {
        public required ushort Reference { get; init; }
        public required byte[] CallIdentifier { get; init; }
        public required string Called { get; init; }
        public H245Channel? H245 { get; set; }
    }

    private sealed class Connection(ListenerRuntime listener, ServeContext context, TcpSessionFeature session, IPAddress local, IPAddress embedded, string peer)
    {
        private readonly Dictionary<ushort, Call> _calls = [];
        private readonly List<Task> _closing = [];
        private readonly H323Options _options = context.H323;
        private int _setups;

        public SequencePosition Process(in ReadOnlySequence<byte> buffer, PipeWriter output, out bool close)
        {
            var reader = new SequenceReader<byte>(buffer);
            close = false;
            while (!close && reader.Remaining > 0)
            {
                var status = Tpkt.TryRead(ref reader, out var payload);
                if (status == OperationStatus.NeedMoreData)
                {
                    break;
                }

                if (status == OperationStatus.InvalidData)
                {
                    Malformed(buffer.Slice(reader.Position), "not TPKT, or a TPKT length out of bounds");
                    close = true;
                    break;
                }

                if (Q931Codec.TryDecode(payload, out var message, out var error) != OperationStatus.Done)
                {
                    Malformed(payload, error!);
                    Send(output, new Q931Message { Type = Q931Type.Status, FromDestination = true, Cause = Q931Cause.MessageNotCompatibleWithCallState, CallState = StateNull }, null);
                    continue;
                }

                OnMessage(message!, output);
            }

            return reader.Position;
        }

        private void OnMessage(Q931Message m, PipeWriter output)
        {
            switch (m.Type)
            {
                case Q931Type.Setup:
                    OnSetup(m, output);
                    break;
                case Q931Type.ReleaseComplete:
                    session.Detail!["released"] = "by the caller";
                    End(m.CallReference);
                    break;
                case Q931Type.StatusEnquiry:
                    var active = _calls.TryGetValue(m.CallReference, out var call);
                    session.Detail!["statusEnquiry"] = active ? "call active" : "no such call";
                    Send(output, Answer(m, Q931Type.Status) with { Cause = Q931Cause.ResponseToStatusEnquiry, CallState = active ? StateActive : StateNull },
                        UuieCodec.WriteStatus(UuieBody.Status, call?.CallIdentifier ?? RandomNumberGenerator.GetBytes(16)));
                    break;
                case Q931Type.Status or Q931Type.Facility or Q931Type.Information or Q931Type.Notify or Q931Type.Progress:
                    break;
                default:
                    // Q.931 §5.8.4: a message type this side does not know or expect gets Status with cause 97.
                    listener.MalformedInput();
                    session.Detail!["unexpected"] = m.Name;
                    Send(output, Answer(m, Q931Type.Status) with { Cause = Q931Cause.MessageTypeNonExistent, CallState = _calls.ContainsKey(m.CallReference) ? StateActive : StateNull }, null);
                    break;
            }
        }

        private void OnSetup(Q931Message m, PipeWriter output)
        {
            _setups++;
            var uuie = m.Uuie;
            var called = m.CalledNumber ?? uuie?.DestinationAddress.FirstOrDefault(a => a.Kind == AliasKind.DialledDigits)?.Value;
            var detail = session.Detail!;
            detail["called"] = called ?? "(none)";
            if (m.CallingNumber is { } calling)
            {
                detail["calling"] = calling;
            }

            if (uuie is null || uuie.Body != UuieBody.Setup)
            {
                listener.MalformedInput();
                detail["error"] = m.UuieError ?? "Setup without a setup UUIE";
                session.Verdict = "h225-malformed";
                Release(output, m, Q931Cause.InvalidInformationElementContents, ReleaseReason.UndefinedReason, null);
                return;
            }

            var callId = uuie.CallIdentifier ?? RandomNumberGenerator.GetBytes(16);
            if (!H323Directory.For(context).Knows(called))
            {
                session.Verdict = session.Verdict == "h225-connect" ? session.Verdict : "h225-release-unknown-number";
                Release(output, m, Q931Cause.UnallocatedNumber, ReleaseReason.UnreachableDestination, callId);
                return;
            }

            if (_calls.Count >= _options.MaxCallsPerConnection || _calls.ContainsKey(m.CallReference))
            {
                session.Verdict = session.Verdict == "h225-connect" ? session.Verdict : "h225-release-busy";
                Release(output, m, Q931Cause.NoCircuitAvailable, ReleaseReason.GatewayResources, callId);
                return;
            }

            var name = string.Create(CultureInfo.InvariantCulture, $"{peer}/{m.CallReference}");
            var h245 = H245Channel.Open(context, listener, local, embedded, peer, name, out var error);
            if (h245 is null)
            {
                detail["error"] = error!;
                session.Verdict = session.Verdict == "h225-connect" ? session.Verdict : "h225-no-media-port";
                Release(output, m, Q931Cause.NoCircuitAvailable, ReleaseReason.GatewayResources, callId);
                return;
            }

            _calls[m.CallReference] = new Call { Reference = m.CallReference, CallIdentifier = callId, Called = called!, H245 = h245 };
            session.Verdict = "h225-connect";
            detail["h245Address"] = Text.EndPoint(h245.Advertised);
            detail["calls"] = _setups.ToString(CultureInfo.InvariantCulture);
            var conference = uuie.ConferenceId ?? RandomNumberGenerator.GetBytes(16);
            Send(output, Answer(m, Q931Type.CallProceeding), UuieCodec.WriteProceeding(UuieBody.CallProceeding, callId, _options.Product, _options.Version));
            Send(output, Answer(m, Q931Type.Alerting), UuieCodec.WriteProceeding(UuieBody.Alerting, callId, _options.Product, _options.Version));
            Send(output, Answer(m, Q931Type.Connect) with { Display = "CUCM " + called }, UuieCodec.WriteConnect(h245.Advertised, conference, callId, _options.Product, _options.Version));
            context.Ledger.Append(listener.Record("h225-call", peer) with
            {
                Verdict = "h225-connect",
                Detail = new() { ["called"] = called!, ["callReference"] = m.CallReference.ToString(CultureInfo.InvariantCulture), ["h245Address"] = Text.EndPoint(h245.Advertised) },
            });
        }

        private void Release(PipeWriter output, Q931Message m, int cause, int reason, byte[]? callId)
        {
            session.Detail!["cause"] = cause.ToString(CultureInfo.InvariantCulture);
            Send(output, Answer(m, Q931Type.ReleaseComplete) with { Cause = cause }, UuieCodec.WriteReleaseComplete(reason, callId));
        }

        /// <summary>An answer on the call of <paramref name="m"/>: the same call reference, flag set (this side did not allocate it).</summary>
        private static Q931Message Answer(Q931Message m, byte type) => new() { Type = type, CallReference = m.CallReference, FromDestination = !m.FromDestination };

        private void Send(PipeWriter output, Q931Message m, byte[]? uuie)
        {
            var frame = Q931Codec.Encode(m, uuie);
            output.Write(frame);
            session.BytesOut += frame.Length;
            listener.Sent(frame.Length);
        }

        private void End(ushort reference)
        {
            if (_calls.Remove(reference, out var call) && call.H245 is { } h245)
            {
                session.Detail!["h245Connected"] = h245.Connected ? "yes" : "no";
                _closing.Add(h245.DisposeAsync().AsTask());
            }
        }

        public async Task EndAllAsync(string why)
        {
            if (_calls.Count > 0)
            {
                session.Detail!["released"] = session.Detail.GetValueOrDefault("released") ?? why;
            }

            foreach (var reference in _calls.Keys.ToList())
            {
                End(reference);
            }

            await Task.WhenAll(_closing).ConfigureAwait(false);
        }

        private void Malformed(in ReadOnlySequence<byte> data, string error)
        {
            listener.MalformedInput();
            session.Detail!["error"] = error;
            session.Detail["first"] = Text.Escape(data);
        }
    }
}
