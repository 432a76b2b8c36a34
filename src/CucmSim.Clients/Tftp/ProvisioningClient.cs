using System.Net;
using System.Net.Security;
using CucmSim.Protocols.Tftp;

namespace CucmSim.Clients.Tftp;

/// <summary>One channel's attempt at a provisioning file.</summary>
public sealed record ChannelResult(string Channel, string Target, bool Ok, int? Status, string? Error, byte[]? Content, TimeSpan Elapsed);

/// <summary>A provisioning fetch over the channels a phone uses, with the one that failed named.</summary>
public sealed record ProvisioningResult(string File, IReadOnlyList<ChannelResult> Channels)
{
    public bool Ok => Channels.Count > 0 && Channels.All(c => c.Ok);

    /// <summary>"http: connection refused; tftp: server ERROR 1: File not found" (empty when all worked).</summary>
    public string Failures => string.Join("; ", Channels.Where(c => !c.Ok).Select(c => $"{c.Channel}: {c.Error}"));
}

/// <summary>Where the provisioning channels of a node are; null skips a channel.</summary>
public sealed record ProvisioningTargets(IPEndPoint? Tftp, IPEndPoint? Http, IPEndPoint? Https);

/// <summary>
/// Fetches a provisioning file the ways a Cisco phone can (HTTP 6970, HTTPS 6971, TFTP 69) and reports
/// each channel separately, so a firewall that passes one and drops another shows which.
/// </summary>
public static class ProvisioningClient
{
    public static async Task<ChannelResult> HttpGetAsync(IPEndPoint target, string file, bool https, TimeSpan? timeout = null, ReadOnlyMemory<byte>? expect = null, CancellationToken cancellationToken = default)
    {
        var channel = https ? "https" : "http";
        var host = target.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{target.Address}]" : target.Address.ToString();
        var url = $"{channel}://{host}:{target.Port}/{Uri.EscapeDataString(file).Replace("%2F", "/", StringComparison.Ordinal)}";
        var started = TimeProvider.System.GetTimestamp();
        using var handler = new SocketsHttpHandler
        {
            // The emulator presents a self-signed certificate, as a CUCM does before the phone trusts it via ITL/TVS.
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            ConnectTimeout = timeout ?? TimeSpan.FromSeconds(5),
        };
        using var client = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await client.GetAsync(new Uri(url), cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            string? error = response.IsSuccessStatusCode ? null : $"HTTP {status}";
            if (error is null && expect is { } e && !e.Span.SequenceEqual(body))
            {
                error = $"content differs from the expected {e.Length} bytes (got {body.Length})";
            }

            return new ChannelResult(channel, url, error is null, status, error, body, TimeProvider.System.GetElapsedTime(started));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            return new ChannelResult(channel, url, false, null, ex.InnerException?.Message ?? ex.Message, null, TimeProvider.System.GetElapsedTime(started));
        }
    }

    public static async Task<ChannelResult> TftpGetAsync(IPEndPoint target, string file, TftpGetOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = await TftpClient.GetAsync(target, file, options, cancellationToken).ConfigureAwait(false);
        var detail = result.DataEndPoint is null ? string.Empty : $" (data from port {result.DataEndPoint.Port})";
        return new ChannelResult("tftp", $"tftp://{target}/{file}", result.Ok, result.ServerError is null ? null : (int)result.ServerError, result.Error is null ? null : result.Error + detail, result.Content, result.Elapsed);
    }

    /// <summary>Fetches <paramref name="file"/> over every channel given, in the phone's order: HTTP, HTTPS, TFTP.</summary>
    public static async Task<ProvisioningResult> FetchAsync(ProvisioningTargets targets, string file, TftpOptionSet tftpOptions = default, CancellationToken cancellationToken = default)
    {
        var results = new List<ChannelResult>();
        if (targets.Http is { } http)
        {
            results.Add(await HttpGetAsync(http, file, https: false, cancellationToken: cancellationToken).ConfigureAwait(false));
        }

        if (targets.Https is { } https)
        {
            results.Add(await HttpGetAsync(https, file, https: true, cancellationToken: cancellationToken).ConfigureAwait(false));
        }

        if (targets.Tftp is { } tftp)
        {
            results.Add(await TftpGetAsync(tftp, file, new TftpGetOptions { Request = tftpOptions }, cancellationToken).ConfigureAwait(false));
        }

        return new ProvisioningResult(file, results);
    }
}
