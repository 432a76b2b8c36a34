using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve;

/// <summary>
/// Kestrel's socket transport in two settings, chosen per listening endpoint. Connections that mostly sit
/// idle (SCCP phones keeping their registration, CTI sessions, held TCP probes) wait for data with a
/// zero-byte read and take a buffer only when bytes arrive: 18,000 idle phones hold no receive buffers.
/// Request/response listeners (HTTP provisioning, where a client sends the next request as soon as the
/// last answer is in) read straight into a buffer: one system call less per request.
/// The accept loop is ours (<see cref="GuardedListener"/>): Kestrel's retries a failing accept at once, forever,
/// and says nothing above debug level, so a process out of descriptors would spin and look healthy.
/// </summary>
internal sealed partial class ListenerTransports : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    /// <summary>How long a listener waits before it tries to accept again after running out of descriptors.</summary>
    internal static readonly TimeSpan AcceptBackoff = TimeSpan.FromMilliseconds(200);

    /// <summary>A listener that keeps failing and recovering logs its failure at most this often.</summary>
    internal static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly SocketTransportOptions _options;
    private readonly SocketConnectionContextFactory _idle;
    private readonly SocketConnectionContextFactory _eager;
    private readonly Func<EndPoint, bool> _isEager;
    private readonly Func<EndPoint, ListenerRuntime?> _listenerOf;
    private readonly ILogger _log;
    private readonly DescriptorHeadroom _headroom;

    /// <param name="configure">Settings shared by both transports.</param>
    /// <param name="isEager">True for an endpoint whose connections read without waiting first.</param>
    /// <param name="listenerOf">The profile's listener on an endpoint (null for the control API).</param>
    /// <param name="headroom">Descriptors kept free below the open-files limit; connections that would eat into them are refused.</param>
    /// <param name="loggers">Kestrel's loggers.</param>
    public ListenerTransports(Action<SocketTransportOptions> configure, Func<EndPoint, bool> isEager, Func<EndPoint, ListenerRuntime?> listenerOf, DescriptorHeadroom headroom, ILoggerFactory loggers)
    {
        _headroom = headroom;
        _options = new SocketTransportOptions();
        configure(_options);
        var transportLog = loggers.CreateLogger("Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets");
        _idle = new SocketConnectionContextFactory(Options(_options, waitForData: true), transportLog);
        _eager = new SocketConnectionContextFactory(Options(_options, waitForData: false), transportLog);
        _isEager = isEager;
        _listenerOf = listenerOf;
        _log = loggers.CreateLogger("CucmSim.Listeners");
    }

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var socket = _options.CreateBoundListenSocket(endpoint);
        try
        {
            socket.Listen(_options.Backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return ValueTask.FromResult<IConnectionListener>(new GuardedListener(this, socket, _isEager(endpoint) ? _eager : _idle, _listenerOf(endpoint)));
    }

    public void Dispose()
    {
        _idle.Dispose();
        _eager.Dispose();
    }

    private static SocketConnectionFactoryOptions Options(SocketTransportOptions options, bool waitForData) => new()
    {
        IOQueueCount = options.IOQueueCount,
        WaitForDataBeforeAllocatingBuffer = waitForData,
        MaxReadBufferSize = options.MaxReadBufferSize,
        MaxWriteBufferSize = options.MaxWriteBufferSize,
        UnsafePreferInlineScheduling = options.UnsafePreferInlineScheduling,
    };

    /// <summary>
    /// Accepts as Kestrel's listener does, except when descriptors run short. A connection whose descriptor falls
    /// inside the <see cref="DescriptorHeadroom"/> is reset at once and counted as refused, so the runtime always
    /// has descriptors to work with (it aborts the process when it has none). When accept itself fails for want
    /// of descriptors (EMFILE, ENFILE: the headroom was eaten by something else), the next accept waits
    /// <see cref="AcceptBackoff"/> instead of spinning. Either way the listener is marked (/healthz says degraded
    /// and names it) and the failure is logged, at most once per <see cref="LogInterval"/>; the first connection
    /// accepted outside the headroom clears the mark.
    /// </summary>
    private sealed class GuardedListener(ListenerTransports owner, Socket socket, SocketConnectionContextFactory factory, ListenerRuntime? listener) : IConnectionListener
    {
        private string? _controlError;
        private long _loggedAt = long.MinValue / 2;
        private bool _logged;

        public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
                {
                    return null;
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TooManyOpenSockets)
                {
                    var error = $"accepting connections fails: {ex.Message}";
                    if (Failed(error))
                    {
                        LogAcceptFailing(owner._log, Name, ex.Message, (int)AcceptBackoff.TotalMilliseconds);
                    }

                    try
                    {
                        await Task.Delay(AcceptBackoff, cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return null;
                    }

                    continue;
                }
                catch (SocketException)
                {
                    // The connection was reset while it waited in the backlog: the next one.
                    continue;
                }

                var reserve = listener is null ? owner._headroom.ControlHeadroom : owner._headroom.Headroom;
                if (owner._headroom.Short(accepted.Handle, reserve))
                {
                    var limit = owner._headroom.Limit;
                    if (Failed($"refusing connections: fewer than {reserve} descriptors left below the open-files limit {limit}"))
                    {
                        LogRefusing(owner._log, Name, reserve, limit);
                    }

                    listener?.ConnectionRefused();
                    accepted.LingerState = new LingerOption(true, 0);
                    accepted.Dispose();
                    continue;
                }

                if ((listener is null ? Interlocked.Exchange(ref _controlError, null) is not null : listener.AcceptSucceeded()) && _logged)
                {
                    _logged = false;
                    LogAcceptRecovered(owner._log, Name);
                }

                if (accepted.LocalEndPoint is IPEndPoint)
                {
                    accepted.NoDelay = owner._options.NoDelay;
                }

                return factory.Create(accepted);
            }
        }

        private string Name => listener?.Id ?? $"control {EndPoint}";

        /// <summary>Marks the listener failing; true when the failure should be logged (a new one, and none logged for a while).</summary>
        private bool Failed(string error)
        {
            var first = listener is null ? Interlocked.Exchange(ref _controlError, error) is null : listener.AcceptFailed(error);
            var now = Environment.TickCount64;
            if (!first || now - _loggedAt < LogInterval.TotalMilliseconds)
            {
                return false;
            }

            _loggedAt = now;
            _logged = true;
            return true;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "{Listener}: accepting connections fails ({Error}); the listener is degraded, retrying every {Backoff} ms")]
    private static partial void LogAcceptFailing(ILogger logger, string listener, string error, int backoff);

    [LoggerMessage(EventId = 22, Level = LogLevel.Error, Message = "{Listener}: fewer than {Headroom} descriptors left below the open-files limit {Limit}; new connections are reset and the listener is degraded (--fd-headroom)")]
    private static partial void LogRefusing(ILogger logger, string listener, int headroom, long limit);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "{Listener}: accepting connections works again")]
    private static partial void LogAcceptRecovered(ILogger logger, string listener);
}
