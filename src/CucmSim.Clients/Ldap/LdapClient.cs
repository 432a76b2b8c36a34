using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using CucmSim.Protocols.Ldap;

namespace CucmSim.Clients.Ldap;

/// <summary>What a search returned: its entries and the SearchResultDone that ended it.</summary>
public sealed record LdapSearchResult(IReadOnlyList<LdapSearchEntry> Entries, LdapResult Done);

/// <summary>
/// An LDAPv3 client as CUCM's directory sync uses one: connect (LDAPS on the TLS ports, the certificate reported,
/// never trusted), simple bind, search, unbind. Operations are sent one at a time and their responses read in
/// order; a response of another message (an unsolicited Notice of Disconnection) ends the call with it.
/// </summary>
public sealed class LdapConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private byte[] _buffer = new byte[16 * 1024];
    private int _filled;
    private int _nextId = 1;

    private LdapConnection(Socket socket, Stream stream, string? tlsDetail)
    {
        _socket = socket;
        _stream = stream;
        TlsDetail = tlsDetail;
    }

    /// <summary>The TLS protocol and the server certificate's subject, for LDAPS; null in clear.</summary>
    public string? TlsDetail { get; }

    public IPEndPoint? Local => _socket.LocalEndPoint as IPEndPoint;

    public static async Task<LdapConnection> ConnectAsync(IPEndPoint target, bool tls, IPAddress? source = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            string? detail = null;
            if (tls)
            {
                var ssl = new SslStream(stream, false, (_, _, _, _) => true);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "cucmsim" }, cancellationToken).ConfigureAwait(false);
                detail = $"{ssl.SslProtocol}, certificate {ssl.RemoteCertificate?.Subject}";
                stream = ssl;
            }

            return new LdapConnection(socket, stream, detail);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task<LdapResult> BindAsync(string dn, string password, CancellationToken cancellationToken = default)
    {
        var id = _nextId++;
        await SendAsync(LdapCodec.WriteBindRequest(id, dn, password), cancellationToken).ConfigureAwait(false);
        return Expect(await ReadAsync(cancellationToken).ConfigureAwait(false), id, LdapOperation.BindResponse);
    }

    public async Task<LdapSearchResult> SearchAsync(string baseDn, LdapScope scope, LdapFilter filter, IEnumerable<string>? attributes = null, int sizeLimit = 0,
        IReadOnlyList<LdapControl>? controls = null, CancellationToken cancellationToken = default)
    {
        var id = _nextId++;
        await SendAsync(LdapCodec.WriteSearchRequest(id, baseDn, scope, filter, attributes ?? [], sizeLimit, controls), cancellationToken).ConfigureAwait(false);
        var entries = new List<LdapSearchEntry>();
        while (true)
        {
            var response = await ReadAsync(cancellationToken).ConfigureAwait(false);
            switch (response)
            {
                case LdapSearchEntry entry when entry.MessageId == id:
                    entries.Add(entry);
                    break;
                case LdapOtherResponse { Operation: LdapOperation.SearchResultReference } other when other.MessageId == id:
                    break;
                default:
                    return new LdapSearchResult(entries, Expect(response, id, LdapOperation.SearchResultDone));
            }
        }
    }

    public async Task<LdapResult> ExtendedAsync(string name, CancellationToken cancellationToken = default)
    {
        var id = _nextId++;
        await SendAsync(LdapCodec.WriteExtendedRequest(id, name), cancellationToken).ConfigureAwait(false);
        return Expect(await ReadAsync(cancellationToken).ConfigureAwait(false), id, LdapOperation.ExtendedResponse);
    }

    /// <summary>Unbind: the server closes without an answer.</summary>
    public Task UnbindAsync(CancellationToken cancellationToken = default) => SendAsync(LdapCodec.WriteUnbindRequest(_nextId++), cancellationToken);

    /// <summary>Sends bytes as they are (tests of malformed input).</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The next response; null when the server closed the connection.</summary>
    /// <exception cref="InvalidDataException">The server sent something that is not LDAP.</exception>
    public async Task<LdapResponse?> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_buffer, 0, _filled);
            var reader = new SequenceReader<byte>(sequence);
            var status = LdapCodec.TryReadMessage(ref reader, out var message, out var error);
            if (status == OperationStatus.InvalidData)
            {
                throw new InvalidDataException(error);
            }

            if (status == OperationStatus.Done)
            {
                var length = (int)reader.Consumed;
                if (!LdapCodec.TryReadResponse(message.ToArray(), out var response, out error))
                {
                    throw new InvalidDataException(error);
                }

                Buffer.BlockCopy(_buffer, length, _buffer, 0, _filled - length);
                _filled -= length;
                return response;
            }

            if (_filled == _buffer.Length)
            {
                if (_buffer.Length >= LdapCodec.MaxMessageSize)
                {
                    throw new InvalidDataException("a response over the size limit");
                }

                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var n = await _stream.ReadAsync(_buffer.AsMemory(_filled), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            _filled += n;
        }
    }

    private static LdapResult Expect(LdapResponse? response, int id, LdapOperation operation) => response switch
    {
        LdapResult result when result.MessageId == id && result.Operation == operation => result,
        LdapResult { MessageId: 0, ResponseName: LdapOids.NoticeOfDisconnection } notice => notice,
        null => throw new IOException($"the server closed the connection before its {operation}"),
        _ => throw new InvalidDataException($"expected {operation} for message {id}, got {response.GetType().Name} for message {response.MessageId}"),
    };

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }
}
