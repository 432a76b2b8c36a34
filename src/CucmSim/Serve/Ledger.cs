using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;

namespace CucmSim.Serve;

/// <summary>
/// One hit, connection, flow or stream. Kinds: listener, tcp-open, tcp-close, udp-flow, udp-flow-end,
/// rtp-stream, rtp-stream-end, event. Fields a kind does not use stay null and are not written.
/// </summary>
public sealed record LedgerRecord
{
    public long Seq { get; set; }
    public DateTimeOffset Time { get; set; }
    public required string Kind { get; init; }
    public string? Listener { get; init; }
    public string? Role { get; init; }
    public string[]? Flows { get; init; }
    public string? Transport { get; init; }
    public string? Protocol { get; init; }
    public string? Local { get; init; }
    public string? Peer { get; init; }
    public string? Verdict { get; init; }
    public string? Nonce { get; init; }
    public string? First { get; init; }
    public long? BytesIn { get; init; }
    public long? BytesOut { get; init; }
    public long? PacketsIn { get; init; }
    public long? PacketsOut { get; init; }
    public long? DurationMs { get; init; }
    public string? Closed { get; init; }
    public string? Error { get; init; }
    public string? Fix { get; init; }
    public RtpStreamRecord? Rtp { get; init; }
    public Dictionary<string, string>? Detail { get; init; }
}

public sealed class RtpStreamRecord
{
    public uint Ssrc { get; init; }
    public int PayloadType { get; init; }
    public long Packets { get; init; }
    public long Expected { get; init; }
    public long Lost { get; init; }
    public long Reordered { get; init; }
    public double JitterMs { get; init; }
    public int FirstSeq { get; init; }
    public long HighestSeq { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LedgerRecord))]
[JsonSerializable(typeof(LedgerRecord[]))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;

public sealed record LedgerOptions
{
    /// <summary>JSON Lines file; null keeps the ledger in memory only.</summary>
    public string? Path { get; init; }

    /// <summary>Rotate when the file would grow past this size.</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Rotated files kept beside the live one (ledger.jsonl.1 is the newest).</summary>
    public int MaxFiles { get; init; } = 5;

    /// <summary>Records kept in memory for the control API.</summary>
    public int WindowSize { get; init; } = 10_000;

    /// <summary>Longest time a written record waits in the process before it reaches the file.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Records that may wait for the writer; past this they are counted as dropped.</summary>
    public int QueueCapacity { get; init; } = 100_000;
}

/// <summary>
/// The durable record of every hit. Appends are cheap and never block; a single writer serialises to
/// JSON Lines, flushing to the kernel when the queue drains and at least once per flush interval, so a
/// kill -9 loses at most that interval. Disposal drains, flushes and syncs the file.
/// </summary>
public sealed class Ledger : IAsyncDisposable
{
    private readonly LedgerOptions _options;
    private readonly TimeProvider _time;
    private readonly Channel<LedgerRecord> _queue;
    private readonly LedgerRecord?[] _window;
    private readonly Lock _windowLock = new();
    private readonly Task _writer;
    private TaskCompletionSource _appended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _seq;
    private long _dropped;
    private long _written;
    private long _rotations;
    private string? _writeError;
    private int _disposed;

    public Ledger(LedgerOptions options, TimeProvider? time = null)
    {
        _options = options;
        _time = time ?? TimeProvider.System;
        _window = new LedgerRecord?[Math.Max(16, options.WindowSize)];
        _queue = Channel.CreateBounded<LedgerRecord>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
        if (options.Path is not null)
        {
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(options.Path));
            if (dir is not null)
            {
                Directory.CreateDirectory(dir);
            }
        }

        _writer = options.Path is null ? DrainAsync() : Task.Factory.StartNew(WriteLoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public string? Path => _options.Path;

    public long LastSeq => Interlocked.Read(ref _seq);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Written => Interlocked.Read(ref _written);

    public long Rotations => Interlocked.Read(ref _rotations);

    public string? WriteError => _writeError;

    public void Append(LedgerRecord record)
    {
        record.Time = _time.GetUtcNow();
        lock (_windowLock)
        {
            record.Seq = ++_seq;
            _window[record.Seq % _window.Length] = record;
        }

        if (Volatile.Read(ref _disposed) != 0 || !_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _dropped);
        }

        Interlocked.Exchange(ref _appended, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Records with a sequence number above <paramref name="since"/> still in the window, oldest first.</summary>
    public IReadOnlyList<LedgerRecord> Since(long since, int max = 1000, DateTimeOffset? after = null)
    {
        var list = new List<LedgerRecord>();
        lock (_windowLock)
        {
            var first = Math.Max(since + 1, _seq - _window.Length + 1);
            for (var s = Math.Max(first, 1); s <= _seq && list.Count < max; s++)
            {
                if (_window[s % _window.Length] is { } r && r.Seq == s && (after is null || r.Time > after))
                {
                    list.Add(r);
                }
            }
        }

        return list;
    }

    /// <summary>Waits until a record newer than <paramref name="since"/> exists, or the token fires.</summary>
    public async Task WaitForNewerAsync(long since, CancellationToken cancellationToken)
    {
        while (LastSeq <= since)
        {
            await Volatile.Read(ref _appended).Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task DrainAsync()
    {
        await foreach (var _ in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
        }
    }

    private async Task WriteLoopAsync()
    {
        var path = _options.Path!;
        var stream = OpenAppend(path);
        var length = stream.Length;
        var buffer = new ArrayBufferWriter<byte>(4096);
        using var json = new Utf8JsonWriter(buffer);
        var lastFlush = _time.GetTimestamp();
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var record))
                {
                    buffer.ResetWrittenCount();
                    json.Reset(buffer);
                    JsonSerializer.Serialize(json, record, LedgerJsonContext.Default.LedgerRecord);
                    json.Flush();
                    buffer.Write("\n"u8);
                    if (length > 0 && length + buffer.WrittenCount > _options.MaxBytes)
                    {
                        await stream.FlushAsync().ConfigureAwait(false);
                        stream.Flush(flushToDisk: true);
                        await stream.DisposeAsync().ConfigureAwait(false);
                        Rotate(path);
                        stream = OpenAppend(path);
                        length = 0;
                        Interlocked.Increment(ref _rotations);
                    }

                    try
                    {
                        stream.Write(buffer.WrittenSpan);
                        length += buffer.WrittenCount;
                        Interlocked.Increment(ref _written);
                    }
                    catch (IOException ex)
                    {
                        _writeError = ex.Message;
                        Interlocked.Increment(ref _dropped);
                    }

                    if (_time.GetElapsedTime(lastFlush) >= _options.FlushInterval)
                    {
                        await stream.FlushAsync().ConfigureAwait(false);
                        lastFlush = _time.GetTimestamp();
                    }
                }

                // The queue is empty: everything written so far reaches the kernel now.
                await stream.FlushAsync().ConfigureAwait(false);
                lastFlush = _time.GetTimestamp();
            }
        }
        finally
        {
            await stream.FlushAsync().ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static FileStream OpenAppend(string path) =>
        new(path, FileMode.Append, FileAccess.Write, FileShare.Read, 64 * 1024, FileOptions.None);

    private void Rotate(string path)
    {
        var oldest = $"{path}.{_options.MaxFiles}";
        if (File.Exists(oldest))
        {
            File.Delete(oldest);
        }

        for (var i = _options.MaxFiles - 1; i >= 1; i--)
        {
            var from = $"{path}.{i}";
            if (File.Exists(from))
            {
                File.Move(from, $"{path}.{i + 1}");
            }
        }

        File.Move(path, $"{path}.1");
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }
}
