using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using CucmSim.Protocols.Rmi;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.Rmi;

/// <summary>
/// Java RMI (JRMP) on the AMC ports 1090 and 1099 and the attendant console's: the handshake of the Java RMI
/// specification §10.2 answered as a Java server does (ProtocolAck with the client's endpoint as this side saw
/// it; ProtocolNotSupported for the multiplex protocol), then Ping answered with PingAck and DgcAck taken.
/// A Call (Java serialization) is recorded and held: no remote objects are exported. A stream that is not
/// JRMP, or an unknown message, is counted and the connection closed, as Java's transport does.
/// </summary>
internal sealed class RmiProtocol : ITcpProtocol
{
    private enum Stage
    {
        Header,
        ClientEndpoint,
        Messages,
        Held,
    }

    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "rmi-malformed";
        session.Detail = [];
        var remote = connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        var state = new State(listener, session, (remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address).ToString(), remote.Port);
        var output = connection.Transport.Output;
        try
        {
            await TcpReadLoop.RunAsync(connection, context, (in ReadOnlySequence<byte> buffer, out bool close) =>
            {
                var consumed = Process(buffer, state, output, out close);
                session.BytesIn += buffer.Slice(0, consumed).Length;
                return consumed;
            }).ConfigureAwait(false);
        }
        finally
        {
            if (state.Pings > 0)
            {
                session.Detail["pings"] = state.Pings.ToString(CultureInfo.InvariantCulture);
            }
        }
    }

    private sealed class State(ListenerRuntime listener, TcpSessionFeature session, string peerHost, int peerPort)
    {
        public ListenerRuntime Listener { get; } = listener;
        public TcpSessionFeature Session { get; } = session;
        public string PeerHost { get; } = peerHost;
        public int PeerPort { get; } = peerPort;
        public Stage Stage { get; set; }
        public long Pings { get; set; }
    }

    /// <summary>Handles every complete unit in the buffer, writing answers to the output; returns what was consumed.</summary>
    private static SequencePosition Process(in ReadOnlySequence<byte> buffer, State state, PipeWriter output, out bool close)
    {
        var session = state.Session;
        var reader = new SequenceReader<byte>(buffer);
        close = false;
        var progress = true;
        while (progress && !close && reader.Remaining > 0)
        {
            progress = false;
            switch (state.Stage)
            {
                case Stage.Header:
                    switch (JrmpCodec.TryReadHeader(ref reader, out var version, out var protocol))
                    {
                        case OperationStatus.Done:
                            session.Detail!["version"] = version.ToString(CultureInfo.InvariantCulture);
                            session.Detail["protocol"] = protocol.ToString("x2", CultureInfo.InvariantCulture);
                            if (protocol == (byte)JrmpProtocol.Stream)
                            {
                                session.Verdict = "rmi-handshake";
                                var ack = output.GetSpan(1 + 6 + JrmpCodec.MaxHostLength);
                                Sent(output, session, JrmpCodec.WriteProtocolAck(ack, state.PeerHost, state.PeerPort));
                                state.Stage = Stage.ClientEndpoint;
                            }
                            else if (protocol == (byte)JrmpProtocol.SingleOp)
                            {
                                session.Verdict = "rmi-handshake";
                                state.Stage = Stage.Messages;
                            }
                            else
                            {
                                // Multiplex (long deprecated) and unknown protocols are refused (§10.2.3).
                                session.Verdict = "rmi-protocol-not-supported";
                                output.GetSpan(1)[0] = (byte)JrmpMessage.ProtocolNotSupported;
                                Sent(output, session, 1);
                                close = true;
                            }

                            progress = true;
                            break;
                        case OperationStatus.InvalidData:
                            Malformed(state, buffer, "not a JRMP header");
                            close = true;
                            break;
                    }

                    break;
                case Stage.ClientEndpoint:
                    switch (JrmpCodec.TryReadEndpoint(ref reader, out var host, out var port))
                    {
                        case OperationStatus.Done:
                            session.Detail!["clientEndpoint"] = host + ":" + port.ToString(CultureInfo.InvariantCulture);
                            state.Stage = Stage.Messages;
                            progress = true;
                            break;
                        case OperationStatus.InvalidData:
                            Malformed(state, buffer, "endpoint identifier too long");
                            close = true;
                            break;
                    }

                    break;
                case Stage.Messages:
                    progress = OnMessage(ref reader, state, buffer, output, ref close);
                    break;
                default:
                    reader.AdvanceToEnd();
                    break;
            }
        }

        return reader.Position;
    }

    private static void Sent(PipeWriter output, TcpSessionFeature session, int n)
    {
        output.Advance(n);
        session.BytesOut += n;
    }

    private static bool OnMessage(ref SequenceReader<byte> reader, State state, in ReadOnlySequence<byte> buffer, PipeWriter output, ref bool close)
    {
        reader.TryPeek(out var op);
        switch ((JrmpMessage)op)
        {
            case JrmpMessage.Ping:
                reader.Advance(1);
                state.Pings++;
                output.GetSpan(1)[0] = (byte)JrmpMessage.PingAck;
                Sent(output, state.Session, 1);
                return true;
            case JrmpMessage.DgcAck:
                if (reader.Remaining < 1 + JrmpCodec.UidSize)
                {
                    return false;
                }

                reader.Advance(1 + JrmpCodec.UidSize);
                return true;
            case JrmpMessage.Call:
                // The call is Java serialization for an object this side never exported: record it and hold.
                state.Session.Verdict = "rmi-call";
                state.Session.Detail!["call"] = Text.Escape(buffer.Slice(reader.Position));
                state.Stage = Stage.Held;
                return true;
            default:
                Malformed(state, buffer.Slice(reader.Position), "unknown JRMP message");
                close = true;
                return false;
        }
    }

    private static void Malformed(State state, in ReadOnlySequence<byte> data, string error)
    {
        state.Listener.MalformedInput();
        state.Session.Verdict = "rmi-malformed";
        state.Session.Detail!["error"] = error;
        state.Session.Detail["first"] = Text.Escape(data);
    }
}
