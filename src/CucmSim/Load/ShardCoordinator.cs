using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Load;

/// <summary>
/// Shard 0's side of a sharded run. Shards 1..n-1 connect and report ready with their shard and the plan's hash; a
/// shard of another plan, another shard count, a shard already there or one that comes after the start is refused
/// with the reason. When all are ready, every shard gets the same absolute start time (now + <see cref="StartMargin"/>).
/// During the run the shards push snapshots (<see cref="Latest"/>) and at the end their reports
/// (<see cref="WaitForReportsAsync"/>). Input it cannot use is answered with an error, logged and counted.
/// </summary>
public sealed class ShardCoordinator : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _count;
    private readonly string _planHash;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly Dictionary<int, Peer> _peers = [];
    private readonly Dictionary<int, ShardMessage> _latest = [];
    private readonly Dictionary<int, LoadReport> _reports = [];
    private TaskCompletionSource _allReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _connections = [];
    private TaskCompletionSource _reportArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DateTimeOffset? _startAt;
    private Task? _accepting;
    private int _pending;
    private long _connectionCount;
    private long _refusalCount;
    private long _badInputCount;

    public ShardCoordinator(IPEndPoint listen, int count, string planHash, Action<string> log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 2);
        _listener = new TcpListener(listen);
        _count = count;
        _planHash = planHash;
        _log = log;
    }

    /// <summary>How long a connection may take to say ready.</summary>
    public TimeSpan HelloTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How far ahead of "all ready" the start is: time for the start to reach every shard.</summary>
    public TimeSpan StartMargin { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Connections waiting to say ready, at most: more are closed at once.</summary>
    public int MaxPending { get; init; } = 64;

    /// <summary>Called with the shard index and its snapshot as each arrives (on the connection's task; keep it short).</summary>
    public Action<int, ShardMessage>? SnapshotArrived { get; init; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public long Connections => Interlocked.Read(ref _connectionCount);

    public long Refusals => Interlocked.Read(ref _refusalCount);

    /// <summary>Frames that were not messages, or messages out of place.</summary>
    public long BadInput => Interlocked.Read(ref _badInputCount);

    /// <summary>The shards (1..n-1) not connected and ready.</summary>
    public IReadOnlyList<int> Missing()
    {
        lock (_gate)
        {
            return Enumerable.Range(1, _count - 1).Where(i => !_peers.ContainsKey(i)).ToList();
        }
    }

    public void Start()
    {
        _listener.Start();
        _accepting = AcceptAsync(_stop.Token);
    }

    /// <summary>
    /// Waits until every shard is ready and hands out the start. A shard that does not come within
    /// <paramref name="timeout"/> ends the wait with a <see cref="ShardException"/> naming it (and the shards that came
    /// are told why the run is off).
    /// </summary>
    public async Task<DateTimeOffset> WaitForShardsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        DateTimeOffset startAt;
        List<Peer> peers;
        while (true)
        {
            Task ready;
            lock (_gate)
            {
                // A shard that was ready and left is missing again: wait for it (or another process with its index).
                foreach (var gone in _peers.Where(p => p.Value.Closed).Select(p => p.Key).ToList())
                {
                    _peers.Remove(gone);
                }

                if (_peers.Count == _count - 1)
                {
                    break;
                }

                if (_allReady.Task.IsCompleted)
                {
                    _allReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                ready = _allReady.Task;
            }

            try
            {
                await ready.WaitAsync(Max(deadline - DateTimeOffset.UtcNow, TimeSpan.Zero), cancellationToken);
            }
            catch (TimeoutException)
            {
                var missing = Missing();
                var reason = $"shard {Names(missing)} did not report ready within {Seconds(timeout)} s";
                await AbortAsync(reason);
                throw new ShardException(reason);
            }
        }

        lock (_gate)
        {
            startAt = DateTimeOffset.FromUnixTimeMilliseconds((DateTimeOffset.UtcNow + StartMargin).ToUnixTimeMilliseconds());
            _startAt = startAt;
            peers = [.. _peers.Values];
        }

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Task.WhenAll(peers.Select(p => p.SendAsync(new ShardMessage { Type = ShardMessage.Start, StartAtMs = startAt.ToUnixTimeMilliseconds(), NowMs = now })));
        return startAt;
    }

    /// <summary>The latest snapshot of each shard that sent one, by shard index.</summary>
    public IReadOnlyDictionary<int, ShardMessage> Latest()
    {
        lock (_gate)
        {
            return new Dictionary<int, ShardMessage>(_latest);
        }
    }

    /// <summary>
    /// The reports of shards 1..n-1, waiting at most <paramref name="timeout"/> for the last; a shard that does not
    /// report in time (or whose connection ended) is named in a <see cref="ShardException"/> that carries the ones that came.
    /// </summary>
    public async Task<IReadOnlyList<LoadReport>> WaitForReportsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            Task arrived;
            lock (_gate)
            {
                if (_reports.Count == _count - 1)
                {
                    return _reports.OrderBy(r => r.Key).Select(r => r.Value).ToList();
                }

                arrived = _reportArrived.Task;
            }

            var left = deadline - DateTimeOffset.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                break;
            }

            try
            {
                await arrived.WaitAsync(left, cancellationToken);
            }
            catch (TimeoutException)
            {
                break;
            }
        }

        lock (_gate)
        {
            var missing = Enumerable.Range(1, _count - 1).Where(i => !_reports.ContainsKey(i)).ToList();
            throw new ShardException($"shard {Names(missing)} sent no report within {Seconds(timeout)} s", _reports.OrderBy(r => r.Key).Select(r => r.Value).ToList());
        }
    }

    /// <summary>Tells every connected shard that the run is off, and why: they stop, drain and exit.</summary>
    public async Task AbortAsync(string reason)
    {
        List<Peer> peers;
        lock (_gate)
        {
            peers = [.. _peers.Values];
        }

        await Task.WhenAll(peers.Select(p => p.SendAsync(new ShardMessage { Type = ShardMessage.Abort, Reason = reason })));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        if (_accepting is not null)
        {
            await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        Task[] connections;
        lock (_gate)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static string Names(IEnumerable<int> shards) => string.Join(", ", shards.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    private async Task AcceptAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(cancellationToken);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connectionCount);
            if (Interlocked.Increment(ref _pending) > MaxPending)
            {
                Interlocked.Decrement(ref _pending);
                Interlocked.Increment(ref _badInputCount);
                _log($"shard coordinator: {socket.RemoteEndPoint} closed: more than {MaxPending} connections wait to say ready");
                socket.Dispose();
                continue;
            }

            lock (_gate)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ServeAsync(socket, cancellationToken));
            }
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken cancellationToken)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "?";
        socket.NoDelay = true;
        var peer = new Peer(new NetworkStream(socket, ownsSocket: true));
        var index = -1;
        var pending = true;
        try
        {
            ShardMessage? hello;
            using (var helloTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                helloTimeout.CancelAfter(HelloTimeout);
                try
                {
                    hello = await ShardFrames.ReadAsync(peer.Stream, ShardFrames.MaxHello, helloTimeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await BadAsync(peer, remote, $"no ready within {Seconds(HelloTimeout)} s");
                    return;
                }
            }

            Interlocked.Decrement(ref _pending);
            pending = false;
            if (hello is null)
            {
                return;
            }

            if (hello.Type != ShardMessage.Ready)
            {
                await BadAsync(peer, remote, $"'{Clip(hello.Type)}' before ready");
                return;
            }

            if (Admit(hello, remote) is { } refusal)
            {
                Interlocked.Increment(ref _refusalCount);
                _log($"shard coordinator: {remote} refused: {refusal}");
                await peer.SendAsync(new ShardMessage { Type = ShardMessage.Refused, Reason = refusal });
                return;
            }

            ShardSpec.TryParse(hello.Shard!, out var shard, out _);
            index = shard.Index;
            lock (_gate)
            {
                _peers[index] = peer;
                if (_peers.Count == _count - 1)
                {
                    _allReady.TrySetResult();
                }
            }

            _log($"shard coordinator: shard {shard} ready from {remote}");
            await ReceiveAsync(peer, index, remote, cancellationToken);
        }
        catch (ShardProtocolException e)
        {
            await BadAsync(peer, remote, e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection ended: a shard that reported is done; one that did not is named as missing at the end.
        }
        finally
        {
            if (pending)
            {
                Interlocked.Decrement(ref _pending);
            }

            if (index > 0)
            {
                lock (_gate)
                {
                    if (!_reports.ContainsKey(index) && _startAt is not null)
                    {
                        _log($"shard coordinator: shard {index} left before its report");
                    }

                    if (_startAt is null && _peers.TryGetValue(index, out var p) && p == peer)
                    {
                        // Gone before the start: it is missing again, and may come back.
                        _peers.Remove(index);
                    }
                }
            }

            await peer.DisposeAsync();
        }
    }

    private string? Admit(ShardMessage hello, string remote)
    {
        if (hello.Version != ShardMessage.CurrentVersion)
        {
            return $"protocol version {hello.Version}; this coordinator speaks {ShardMessage.CurrentVersion} (run the same cucmsim on every shard)";
        }

        if (hello.Shard is null)
        {
            return "no shard given";
        }

        if (!ShardSpec.TryParse(hello.Shard, out var shard, out var error))
        {
            return error;
        }

        if (shard.Count != _count)
        {
            return $"shard {shard} is of {shard.Count} shards; this run has {_count}";
        }

        if (shard.Index == 0)
        {
            return "shard 0 is this coordinator; the others are 1.." + (_count - 1).ToString(CultureInfo.InvariantCulture);
        }

        if (!string.Equals(hello.PlanHash, _planHash, StringComparison.Ordinal))
        {
            return $"shard {shard} has another plan (hash {Clip(hello.PlanHash ?? "none")}, shard 0 has {_planHash}): give every shard the same --plan file and plan options";
        }

        lock (_gate)
        {
            if (_startAt is not null)
            {
                return $"the run started at {_startAt.Value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}; shard {shard} came too late";
            }

            if (_peers.TryGetValue(shard.Index, out var existing) && !existing.Closed)
            {
                return $"shard {shard} is already connected (another process has the same shard index)";
            }
        }

        _ = remote;
        return null;
    }

    private async Task ReceiveAsync(Peer peer, int index, string remote, CancellationToken cancellationToken)
    {
        while (await ShardFrames.ReadAsync(peer.Stream, ShardFrames.MaxFrame, cancellationToken) is { } message)
        {
            switch (message.Type)
            {
                case ShardMessage.Snapshot when message.Totals is not null:
                    lock (_gate)
                    {
                        _latest[index] = message;
                    }

                    SnapshotArrived?.Invoke(index, message);
                    break;
                case ShardMessage.Report when message.Result is not null:
                    lock (_gate)
                    {
                        _reports[index] = message.Result;
                        _reportArrived.TrySetResult();
                        _reportArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    _log($"shard coordinator: shard {index} reported");
                    await peer.SendAsync(new ShardMessage { Type = ShardMessage.Done });
                    break;
                default:
                    Interlocked.Increment(ref _badInputCount);
                    _log($"shard coordinator: shard {index} ({remote}) sent '{Clip(message.Type)}' that has no place here; ignored");
                    await peer.SendAsync(new ShardMessage { Type = ShardMessage.Error, Reason = $"'{Clip(message.Type)}' has no place here" });
                    break;
            }
        }
    }

    private async Task BadAsync(Peer peer, string remote, string reason)
    {
        Interlocked.Increment(ref _badInputCount);
        _log($"shard coordinator: {remote} closed: {reason}");
        await peer.SendAsync(new ShardMessage { Type = ShardMessage.Error, Reason = reason });
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "…";

    /// <summary>A shard's connection: one writer at a time; a send that fails or takes over 5 s leaves it for dead.</summary>
    private sealed class Peer(NetworkStream stream) : IAsyncDisposable
    {
        private readonly SemaphoreSlim _write = new(1, 1);

        public NetworkStream Stream { get; } = stream;

        /// <summary>The other end has closed (its end of stream waits unread): a shard that left and comes back is not a twin.</summary>
        public bool Closed
        {
            get
            {
                try
                {
                    return Stream.Socket.Poll(0, SelectMode.SelectRead) && Stream.Socket.Available == 0;
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return true;
                }
            }
        }

        public async Task SendAsync(ShardMessage message)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _write.WaitAsync(timeout.Token);
                try
                {
                    await ShardFrames.WriteAsync(Stream, message, timeout.Token);
                }
                finally
                {
                    _write.Release();
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The shard is gone; its report will be missing and named.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Stream.DisposeAsync();
        }
    }
}

/// <summary>A sharded run that cannot go on: a shard missing, refused or gone. The message says which and why.</summary>
public sealed class ShardException(string message, IReadOnlyList<LoadReport>? partial = null) : Exception(message)
{
    /// <summary>The reports that did come (when waiting for reports).</summary>
    public IReadOnlyList<LoadReport> Partial { get; } = partial ?? [];
}
