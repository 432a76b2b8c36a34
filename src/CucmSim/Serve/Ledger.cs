using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;

using Microsoft.Extensions.Logging;

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

    /// <summary>
    /// Records kept in memory for the control API. Every record in the window outlives the GC's youngest generation,
    /// so a busy server pays for each one at every collection: the file is the durable ledger, the window a view.
    /// </summary>
    public int WindowSize { get; init; } = 1_000;

    /// <summary>Longest time a written record waits in the process before it reaches the file.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Records that may wait for the writer; past this they are counted as dropped.</summary>
    public int QueueCapacity { get; init; } = 100_000;
}

/// <summary>
/// The durable record of every hit. Appends are cheap and never block: a record goes into the in-memory
/// window and a lock-free queue. A single writer thread serialises to JSON Lines; it is woken only when it
/// sleeps (never once per record), lingers a few milliseconds after each batch so a busy server costs a
/// handful of wake-ups per second, and hands what it wrote to the kernel after every batch and at least once
/// per flush interval, so a kill -9 loses at most that interval. Disposal drains, flushes and syncs the file.
/// </summary>
public sealed class Ledger : IAsyncDisposable
{
    /// <summary>Pause after a batch, so records that arrive meanwhile are written together.</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(10);

    /// <summary>Lines gathered into one write.</summary>
    private const int BatchBytes = 64 * 1024;
    private readonly ILogger? _log;
    private long _writeFailures;
    private bool _failing;
    private long _lastFailureLog;

    private readonly LedgerOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<LedgerRecord>? _queue;
    private readonly LedgerRecord?[] _window;
    private readonly Lock _windowLock = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly TaskCompletionSource _writer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _appended;
    private long _seq;
    private long _dropped;
    private long _written;
    private long _rotations;
    private int _queued;
    private int _sleeping;
    private string? _writeError;
    private int _disposed;

    public Ledger(LedgerOptions options, TimeProvider? time = null, ILogger? log = null)
    {
        _log = log;
        _options = options;
        _time = time ?? TimeProvider.System;
        _window = new LedgerRecord?[Math.Max(16, options.WindowSize)];
        if (options.Path is null)
        {
            // In memory only: the window is the whole ledger, nothing waits for a writer.
            _writer.SetResult();
            return;
        }

        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(options.Path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        _queue = new ConcurrentQueue<LedgerRecord>();
        new Thread(WriteLoop) { IsBackground = true, Name = "cucmsim ledger" }.Start();
    }

    public string? Path => _options.Path;

    public long LastSeq => Interlocked.Read(ref _seq);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Written => Interlocked.Read(ref _written);

    public long Rotations => Interlocked.Read(ref _rotations);

    public string? WriteError => _writeError;

    /// <summary>Records dropped because the file could not take them (a full disk, an I/O error).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    public void Append(LedgerRecord record)
    {
        record.Time = _time.GetUtcNow();
        lock (_windowLock)
        {
            record.Seq = ++_seq;
            _window[record.Seq % _window.Length] = record;
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Increment(ref _dropped);
        }
        else if (_queue is not null)
        {
            if (Interlocked.Increment(ref _queued) > _options.QueueCapacity)
            {
                Interlocked.Decrement(ref _queued);
                Interlocked.Increment(ref _dropped);
            }
            else
            {
                _queue.Enqueue(record);
                if (Volatile.Read(ref _sleeping) != 0 && Interlocked.Exchange(ref _sleeping, 0) != 0)
                {
                    _wake.Set();
                }
            }
        }

        // Wake the control API's followers, if any wait (no allocation when none does).
        if (Volatile.Read(ref _appended) is not null)
        {
            Interlocked.Exchange(ref _appended, null)?.TrySetResult();
        }
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
            var signal = Volatile.Read(ref _appended);
            if (signal is null)
            {
                var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                signal = Interlocked.CompareExchange(ref _appended, fresh, null) ?? fresh;
            }

            // Appends publish the sequence number before they look for a signal: check again after installing it.
            if (LastSeq > since)
            {
                return;
            }

            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void WriteLoop()
    {
        var path = _options.Path!;
        var queue = _queue!;
        FileStream? stream = null;
        try
        {
            stream = OpenAppend(path);
            var length = stream.Length;
            var buffer = new ArrayBufferWriter<byte>(4096);
            var batch = new ArrayBufferWriter<byte>(BatchBytes);
            var inBatch = 0;
            using var json = new Utf8JsonWriter(buffer);
            while (true)
            {
                var wrote = false;
                var started = _time.GetTimestamp();
                while (queue.TryDequeue(out var record))
                {
                    Interlocked.Decrement(ref _queued);
                    wrote = true;
                    buffer.ResetWrittenCount();
                    json.Reset(buffer);
                    JsonSerializer.Serialize(json, record, LedgerJsonContext.Default.LedgerRecord);
                    json.Flush();
                    buffer.Write("\n"u8);
                    if (length + batch.WrittenCount > 0 && length + batch.WrittenCount + buffer.WrittenCount > _options.MaxBytes)
                    {
                        WriteBatch(stream, batch, ref inBatch, ref length);
                        stream.Flush(flushToDisk: true);
                        stream.Dispose();
                        Rotate(path);
                        stream = OpenAppend(path);
                        length = 0;
                        Interlocked.Increment(ref _rotations);
                    }

                    batch.Write(buffer.WrittenSpan);
                    inBatch++;
                    if (batch.WrittenCount >= BatchBytes || _time.GetElapsedTime(started) >= _options.FlushInterval)
                    {
                        // A backlog longer than the interval still reaches the kernel every interval.
                        WriteBatch(stream, batch, ref inBatch, ref length);
                        started = _time.GetTimestamp();
                    }
                }

                // The queue is empty: everything so far reaches the kernel now.
                WriteBatch(stream, batch, ref inBatch, ref length);
                if (Volatile.Read(ref _disposed) != 0 && queue.IsEmpty)
                {
                    break;
                }

                if (wrote)
                {
                    // Linger: appends do not signal while the writer is awake, so this costs no wake-up per record.
                    _wake.Reset();
                    _wake.Wait(Linger);
                    continue;
                }

                _wake.Reset();
                Interlocked.Exchange(ref _sleeping, 1);
                if (queue.IsEmpty && Volatile.Read(ref _disposed) == 0)
                {
                    _wake.Wait(_options.FlushInterval);
                }

                Volatile.Write(ref _sleeping, 0);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _writeError = ex.Message;
            _log?.LogError("ledger {Path}: {Error}; records are kept in memory only from now on", path, ex.Message);
        }
        finally
        {
            if (stream is not null)
            {
                try
                {
                    stream.Flush(flushToDisk: true);
                    stream.Dispose();
                }
                catch (IOException ex)
                {
                    _writeError = ex.Message;
                }
            }

            _writer.TrySetResult();
        }
    }

    /// <summary>
    /// Writes whole lines with one write (the stream has no buffer of its own). A write that fails (the disk is full)
    /// is taken back to the last whole line, so the file never holds a torn one, and its records are counted as
    /// dropped; the next batch tries again, so writing resumes by itself when space returns. The failure is logged
    /// once a minute at most, and the recovery once.
    /// </summary>
    private void WriteBatch(FileStream stream, ArrayBufferWriter<byte> batch, ref int records, ref long length)
    {
        if (records == 0)
        {
            return;
        }

        try
        {
            stream.Write(batch.WrittenSpan);
            length += batch.WrittenCount;
            Interlocked.Add(ref _written, records);
            if (_failing)
            {
                _failing = false;
                _writeError = null;
                _log?.LogWarning("ledger {Path}: writing again; {Dropped} records were dropped while it failed", _options.Path, Dropped);
            }
        }
        catch (IOException ex)
        {
            _writeError = ex.Message;
            Interlocked.Add(ref _dropped, records);
            Interlocked.Add(ref _writeFailures, records);
            try
            {
                stream.SetLength(length);
                stream.Seek(length, SeekOrigin.Begin);
            }
            catch (IOException)
            {
            }

            _failing = true;
            var now = _time.GetTimestamp();
            if (_lastFailureLog == 0 || _time.GetElapsedTime(_lastFailureLog, now) >= TimeSpan.FromMinutes(1))
            {
                _lastFailureLog = now;
                _log?.LogError("ledger {Path}: {Error}; {Dropped} records dropped so far, serving goes on and writing resumes when it can", _options.Path, ex.Message, Dropped);
            }
        }

        batch.ResetWrittenCount();
        records = 0;
    }

    private static FileStream OpenAppend(string path) =>
        new(path, FileMode.Append, FileAccess.Write, FileShare.Read, 0, FileOptions.None);

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

        _wake.Set();
        await _writer.Task.ConfigureAwait(false);

        // An append that raced with the close found the writer gone: count it, as appends after the close are.
        while (_queue is not null && _queue.TryDequeue(out _))
        {
            Interlocked.Increment(ref _dropped);
        }

        _wake.Dispose();
    }
}
