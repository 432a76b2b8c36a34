using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.Mgcp;

/// <summary>
/// MGCP backhaul on 2428/tcp: the framing that carries a PRI/BRI gateway's Q.931 to CUCM is Cisco's own and
/// undocumented, so nothing is answered. The connection is held until the peer closes, the idle timeout
/// passes or the server stops, and recorded with its own verdict, its first bytes and its byte count.
/// </summary>
internal sealed class MgcpBackhaul : ITcpProtocol
{
    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "mgcp-backhaul";
        var first = new ArrayBufferWriter<byte>(Text.MaxFirstBytes);
        try
        {
            await TcpReadLoop.RunAsync(connection, context, (in ReadOnlySequence<byte> buffer, out bool close) =>
            {
                if (first.WrittenCount < Text.MaxFirstBytes)
                {
                    var take = buffer.Slice(0, Math.Min(buffer.Length, Text.MaxFirstBytes - first.WrittenCount));
                    take.CopyTo(first.GetSpan((int)take.Length));
                    first.Advance((int)take.Length);
                }

                session.BytesIn += buffer.Length;
                close = false;
                return buffer.End;
            }).ConfigureAwait(false);
        }
        finally
        {
            session.Detail = first.WrittenCount > 0 ? new() { ["first"] = Text.Escape(first.WrittenSpan) } : null;
            session.Verdict = first.WrittenCount > 0 ? "mgcp-backhaul" : "mgcp-backhaul-silent";
        }
    }
}
