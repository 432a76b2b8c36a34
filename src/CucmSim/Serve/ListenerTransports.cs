using System.Net;
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
/// </summary>
internal sealed class ListenerTransports : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly SocketTransportFactory _idle;
    private readonly SocketTransportFactory _eager;
    private readonly Func<EndPoint, bool> _isEager;

    /// <param name="configure">Settings shared by both transports.</param>
    /// <param name="isEager">True for an endpoint whose connections read without waiting first.</param>
    /// <param name="loggers">Kestrel's loggers.</param>
    public ListenerTransports(Action<SocketTransportOptions> configure, Func<EndPoint, bool> isEager, ILoggerFactory loggers)
    {
        _idle = new SocketTransportFactory(Options(configure, waitForData: true), loggers);
        _eager = new SocketTransportFactory(Options(configure, waitForData: false), loggers);
        _isEager = isEager;
    }

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        (_isEager(endpoint) ? _eager : _idle).BindAsync(endpoint, cancellationToken);

    private static Microsoft.Extensions.Options.IOptions<SocketTransportOptions> Options(Action<SocketTransportOptions> configure, bool waitForData)
    {
        var options = new SocketTransportOptions();
        configure(options);
        options.WaitForDataBeforeAllocatingBuffer = waitForData;
        return Microsoft.Extensions.Options.Options.Create(options);
    }
}
