using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve;

/// <summary>Handles what arrived; returns how far the input was consumed and whether to close now.</summary>
internal delegate SequencePosition TcpReadStep(in ReadOnlySequence<byte> buffer, out bool close);

/// <summary>
/// The read loop of a simple stream handler: each read is handed to a step, what the step wrote to the output
/// is flushed, and the loop ends when the step says close, the peer closes, the idle timeout passes or the
/// server stops.
/// </summary>
internal static class TcpReadLoop
{
    public static async Task RunAsync(ConnectionContext connection, ServeContext context, TcpReadStep step)
    {
        var input = connection.Transport.Input;
        using var idle = new CancellationTokenSource(context.Limits.IdleTimeout, context.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, context.Stopping);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var buffer = result.Buffer;
            var consumed = step(buffer, out var close);
            input.AdvanceTo(consumed, buffer.End);
            await connection.Transport.Output.FlushAsync().ConfigureAwait(false);
            idle.CancelAfter(context.Limits.IdleTimeout);
            if (close || result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }
}
