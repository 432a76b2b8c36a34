using System.Globalization;
using System.Net.Sockets;

namespace CucmSim.Load;

/// <summary>
/// A shard's side (shards 1..n-1): connects to shard 0 (retrying until the timeout: shard 0's pod may come later),
/// reports ready, waits for the start, pushes a snapshot a second, and sends its final report. When shard 0 calls
/// the run off, <see cref="Aborted"/> fires with <see cref="AbortReason"/>.
/// </summary>
public sealed class ShardClient : IAsyncDisposable
{
    private readonly NetworkStream _stream;
    private readonly Action<string> _log;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly CancellationTokenSource _aborted = new();
    private readonly TaskCompletionSource<ShardMessage> _start = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reading;
    private int _snapshotInFlight;

    private ShardClient(NetworkStream stream, Action<string> log)
    {
        _stream = stream;
        _log = log;
        _reading = ReadAsync();
    }

    public CancellationToken Aborted => _aborted.Token;

    public string? AbortReason { get; private set; }

    /// <summary>
    /// Connects to the coordinator at <paramref name="host"/>:<paramref name="port"/> and reports ready. Connecting is
    /// retried every half second until <paramref name="timeout"/> (a name that does not resolve yet is retried too).
    /// </summary>
    public static async Task<ShardClient> ConnectAsync(string host, int port, ShardSpec shard, string planHash, TimeSpan timeout, Action<string> log, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        string? last = null;
        for (var attempt = 0; ; attempt++)
        {
            var client = new TcpClient { NoDelay = true };
            try
            {
                using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attemptTimeout.CancelAfter(TimeSpan.FromSeconds(5));
                await client.ConnectAsync(host, port, attemptTimeout.Token);
                var shardClient = new ShardClient(client.GetStream(), log);
                await shardClient.SendAsync(new ShardMessage { Type = ShardMessage.Ready, Shard = shard.ToString(), PlanHash = planHash }, cancellationToken);
                return shardClient;
            }
            catch (Exception e) when (e is SocketException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                client.Dispose();
                var what = e is OperationCanceledException ? "no answer" : e.Message;
                if (what != last)
                {
                    log($"shard {shard}: coordinator {host}:{port.ToString(CultureInfo.InvariantCulture)}: {what}; retrying");
                    last = what;
                }

                if (DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(500) >= deadline)
                {
                    throw new ShardException($"shard {shard}: the coordinator {host}:{port.ToString(CultureInfo.InvariantCulture)} (shard 0) did not answer within {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s ({what})");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            }
        }
    }

    /// <summary>The start the coordinator hands out once every shard is ready; a refusal or an abort throws its reason.</summary>
    public async Task<DateTimeOffset> WaitForStartAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        ShardMessage start;
        try
        {
            start = await _start.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new ShardException($"shard 0 gave no start within {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s");
        }

        var at = DateTimeOffset.FromUnixTimeMilliseconds(start.StartAtMs!.Value);
        if (start.NowMs is { } theirs)
        {
            var skew = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - theirs;
            if (Math.Abs(skew) > 500)
            {
                _log($"this clock differs from shard 0's by about {skew.ToString(CultureInfo.InvariantCulture)} ms (network delay included): the shards start apart by as much; synchronise the clocks (NTP)");
            }
        }

        return at;
    }

    /// <summary>Pushes a snapshot without waiting; when the previous one is still being sent, this one is dropped.</summary>
    public void PushSnapshot(ShardSpec shard, LoadInterval interval, LoadCounters totals, IReadOnlyDictionary<string, long>? failures = null)
    {
        if (Interlocked.CompareExchange(ref _snapshotInFlight, 1, 0) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await SendAsync(new ShardMessage { Type = ShardMessage.Snapshot, Shard = shard.ToString(), Interval = interval, Totals = totals, Failures = failures is null ? null : new SortedDictionary<string, long>(failures.ToDictionary(), StringComparer.Ordinal) }, timeout.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The live view misses a second; the report still goes at the end, or is merged from its file.
            }
            finally
            {
                Volatile.Write(ref _snapshotInFlight, 0);
            }
        });
    }

    /// <summary>Sends the final report and waits for shard 0 to take it.</summary>
    public async Task SendReportAsync(ShardSpec shard, LoadReport report, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await SendAsync(new ShardMessage { Type = ShardMessage.Report, Shard = shard.ToString(), Result = report }, limit.Token);
            await _done.Task.WaitAsync(limit.Token);
        }
        catch (Exception e) when (e is IOException or SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new ShardException($"shard {shard}: shard 0 did not take the report ({(e is OperationCanceledException ? "no answer" : e.Message)}); merge its --json file with 'cucmsim load merge'");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stream.Socket.Shutdown(SocketShutdown.Both);
        await _stream.DisposeAsync();
        await _reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _aborted.Dispose();
    }

    private async Task SendAsync(ShardMessage message, CancellationToken cancellationToken)
    {
        await _write.WaitAsync(cancellationToken);
        try
        {
            await ShardFrames.WriteAsync(_stream, message, cancellationToken);
        }
        finally
        {
            _write.Release();
        }
    }

    private async Task ReadAsync()
    {
        string? ended = null;
        try
        {
            while (await ShardFrames.ReadAsync(_stream, ShardFrames.MaxHello, CancellationToken.None) is { } message)
            {
                switch (message.Type)
                {
                    case ShardMessage.Start when message.StartAtMs is not null:
                        _start.TrySetResult(message);
                        break;
                    case ShardMessage.Done:
                        _done.TrySetResult();
                        break;
                    case ShardMessage.Refused or ShardMessage.Abort or ShardMessage.Error:
                        var reason = $"shard 0 {(message.Type == ShardMessage.Refused ? "refused this shard" : message.Type == ShardMessage.Abort ? "called the run off" : "answered an error")}: {message.Reason}";
                        if (message.Type != ShardMessage.Error || !_start.Task.IsCompleted)
                        {
                            Abort(reason);
                            if (message.Type != ShardMessage.Abort || !_start.Task.IsCompletedSuccessfully)
                            {
                                return;
                            }

                            break;
                        }

                        _log(reason);
                        break;
                    default:
                        _log($"shard 0 sent '{message.Type}', which this shard does not know; ignored");
                        break;
                }
            }

            ended = "shard 0 closed the connection";
        }
        catch (ShardProtocolException e)
        {
            ended = "shard 0 sent what is not a message: " + e.Message;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            ended = "the connection to shard 0 ended: " + e.Message;
        }

        if (!_start.Task.IsCompleted)
        {
            Abort(ended);
        }
        else if (!_done.Task.IsCompleted)
        {
            // The run goes on without the live view; the report cannot be sent, and is merged from its file.
            _log(ended + "; this shard runs on");
            _done.TrySetException(new ShardException(ended));
        }
    }

    private void Abort(string reason)
    {
        AbortReason ??= reason;

        // Before the start the run is off; after it, the shard stops early and still sends its report.
        if (!_start.Task.IsCompleted)
        {
            _start.TrySetException(new ShardException(reason));
            _done.TrySetException(new ShardException(reason));
        }

        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
