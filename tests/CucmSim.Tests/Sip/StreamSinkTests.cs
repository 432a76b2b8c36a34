using System.IO.Pipelines;
using System.Threading.Tasks.Sources;
using CucmSim.Serve;
using CucmSim.Serve.Sip;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sip;

/// <summary>
/// The SIP stream sink over a writer whose flushes complete exactly when the test says: a flush that completes
/// between "not done yet" and the moment the sink attaches its continuation (the output loop on another thread
/// drained the pipe in that gap) must not leave the sink believing a flush is still under way.
/// </summary>
public sealed class StreamSinkTests
{
    [Fact]
    public async Task A_flush_that_completes_while_the_sink_looks_away_does_not_stall_later_output()
    {
        var writer = new ScriptedWriter { CompleteOnSecondLook = true };
        var sink = new StreamSink(writer, "TCP", new TcpSessionFeature());

        sink.Send("first"u8);
        await sink.FlushAsync().DefaultTimeout();

        writer.CompleteOnSecondLook = false;
        writer.CompleteAtOnce = true;
        sink.Send("second"u8);
        await sink.FlushAsync().DefaultTimeout();

        Assert.Equal(0, writer.UnflushedBytes);
        Assert.Equal("firstsecond", writer.Flushed);
    }

    [Fact]
    public async Task A_flush_that_completes_later_releases_the_batch_and_flushes_what_came_meanwhile()
    {
        var writer = new ScriptedWriter();
        var sink = new StreamSink(writer, "TCP", new TcpSessionFeature()) { InBatch = true };

        sink.Send("a"u8);
        sink.InBatch = false;
        var pending = sink.FlushAsync();
        Assert.False(pending.IsCompleted);

        // A timer retransmission while the peer is not reading: written, flushed after the pending flush.
        sink.Send("b"u8);
        Assert.Equal(1, writer.Flushes);

        writer.CompleteAtOnce = true;
        writer.CompletePending();
        await pending.DefaultTimeout();
        await sink.FlushAsync().DefaultTimeout();

        Assert.Equal("ab", writer.Flushed);
        Assert.Equal(0, writer.UnflushedBytes);
    }

    [Fact]
    public async Task A_closed_reader_closes_the_sink()
    {
        var writer = new ScriptedWriter { CompleteAtOnce = true, ReaderGone = true };
        var sink = new StreamSink(writer, "TCP", new TcpSessionFeature());

        sink.Send("a"u8);
        await sink.FlushAsync().DefaultTimeout();
        sink.Send("b"u8);

        Assert.Equal(1, writer.Flushes);
    }

    /// <summary>A pipe writer whose flushes complete when scripted; it remembers what each flush committed.</summary>
    private sealed class ScriptedWriter : PipeWriter, IValueTaskSource<FlushResult>
    {
        private readonly List<byte> _buffer = [];
        private byte[] _span = new byte[4096];
        private ManualResetValueTaskSourceCore<FlushResult> _core = new() { RunContinuationsAsynchronously = true };
        private int _looks;
        private bool _pending;
        private readonly System.Text.StringBuilder _flushed = new();

        /// <summary>The flush reports "not done" at the first look and "done" at the next (the race).</summary>
        public bool CompleteOnSecondLook { get; set; }

        public bool CompleteAtOnce { get; set; }

        public bool ReaderGone { get; set; }

        public int Flushes { get; private set; }

        public string Flushed => _flushed.ToString();

        public override bool CanGetUnflushedBytes => true;

        public override long UnflushedBytes => _buffer.Count;

        public override void Advance(int bytes) => _buffer.AddRange(_span.AsSpan(0, bytes).ToArray());

        public override Memory<byte> GetMemory(int sizeHint = 0) => _span = new byte[Math.Max(sizeHint, 4096)];

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void CancelPendingFlush()
        {
        }

        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Assert.False(_pending, "a flush was started while another was pending");
            Flushes++;
            _flushed.Append(System.Text.Encoding.ASCII.GetString(_buffer.ToArray()));
            _buffer.Clear();
            if (CompleteAtOnce)
            {
                return new ValueTask<FlushResult>(new FlushResult(false, ReaderGone));
            }

            _core.Reset();
            _looks = 0;
            _pending = true;
            return new ValueTask<FlushResult>(this, _core.Version);
        }

        public void CompletePending()
        {
            _pending = false;
            _core.SetResult(new FlushResult(false, ReaderGone));
        }

        public FlushResult GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token)
        {
            if (_pending && CompleteOnSecondLook && ++_looks >= 2)
            {
                CompletePending();
            }

            return _core.GetStatus(token);
        }

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
