using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// HTTP 6970 and HTTPS 6971/6972 provisioning (protocols.md §3.3): GET or HEAD /&lt;file&gt; answers the
/// same content as TFTP, 200 or 404. On HTTPS a request for a signed name (".sgn") that does not exist
/// is answered with the unsigned file, as the TFTP service does for phones with an ITL of version 1.1.
/// </summary>
internal sealed class ProvisioningHttp(ProvisioningService service) : IHttpProtocol
{
    private const int ChunkSize = 64 * 1024;
    private static readonly object PeerKey = new();

    /// <summary>The client's address as the ledger writes it, formatted once per connection (keep-alive requests share it).</summary>
    private static string Peer(HttpContext http)
    {
        var items = http.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(PeerKey, out var cached) && cached is string text)
        {
            return text;
        }

        text = http.Connection.RemoteIpAddress is { } address
            ? Text.EndPoint(new System.Net.IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, http.Connection.RemotePort))
            : "unknown";
        if (items is not null)
        {
            items[PeerKey] = text;
        }

        return text;
    }

    public async Task HandleAsync(HttpContext http, ListenerRuntime listener, ServeContext context)
    {
        var started = context.Time.GetTimestamp();
        var request = http.Request;
        var response = http.Response;
        var channel = request.IsHttps ? "https" : "http";
        var peer = Peer(http);
        var path = request.Path.Value ?? "/";
        var name = path.Length > 0 && path[0] == '/' ? path[1..] : path;
        var head = HttpMethods.IsHead(request.Method);
        if (!head && !HttpMethods.IsGet(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            Record(listener, channel, peer, name, "error", 0, null, "405 method not allowed", started, context);
            return;
        }

        var embedded = context.Embedded(http.Connection.LocalIpAddress, http.Connection.RemoteIpAddress);
        var lookup = service.Content.Lookup(name, peer, channel, embedded, out var file, out var reason);
        if (lookup == LookupStatus.NotFound && request.IsHttps && name.EndsWith(".sgn", StringComparison.OrdinalIgnoreCase))
        {
            lookup = service.Content.Lookup(name[..^4], peer, channel, embedded, out file, out reason);
        }

        if (lookup != LookupStatus.Found || file is null)
        {
            response.StatusCode = lookup == LookupStatus.Refused ? StatusCodes.Status403Forbidden : StatusCodes.Status404NotFound;
            response.ContentType = "text/plain";
            var text = lookup == LookupStatus.Refused ? $"Access violation: {reason}\n" : "File not found\n";
            response.ContentLength = text.Length;
            if (!head)
            {
                await response.WriteAsync(text, http.RequestAborted).ConfigureAwait(false);
            }

            Record(listener, channel, peer, name, "error", 0, null, $"{response.StatusCode} {reason}", started, context);
            return;
        }

        using (file)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = file.ContentType;
            response.ContentLength = file.Length;
            long written = 0;
            var outcome = "complete";
            if (!head)
            {
                try
                {
                    if (file is MemoryFile memory)
                    {
                        await response.BodyWriter.WriteAsync(memory.Data, http.RequestAborted).ConfigureAwait(false);
                        written = memory.Length;
                    }
                    else
                    {
                        var chunk = new byte[ChunkSize];
                        while (written < file.Length)
                        {
                            var n = file.Read(written, chunk);
                            if (n == 0)
                            {
                                break;
                            }

                            await response.Body.WriteAsync(chunk.AsMemory(0, n), http.RequestAborted).ConfigureAwait(false);
                            written += n;
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                    outcome = "aborted";
                }
            }

            Record(listener, channel, peer, name, outcome, written, file.Length, null, started, context);
        }
    }

    private void Record(ListenerRuntime listener, string channel, string peer, string name, string outcome, long bytes, long? size, string? error, long started, ServeContext context) =>
        service.Record(new ProvisioningEvent
        {
            Listener = listener,
            Channel = channel,
            Peer = peer,
            Local = listener.BoundEndPoint is null ? null : listener.LocalText,
            File = name,
            Outcome = outcome,
            Bytes = bytes,
            Size = size,
            Error = error,
            DurationMs = (long)context.Time.GetElapsedTime(started).TotalMilliseconds,
        });
}
