using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace CucmSim.Protocols.Ssh;

/// <summary>SSH_MSG_KEXINIT (RFC 4253 §7.1): the algorithms each side offers, in order of preference.</summary>
public sealed record SshKexInit
{
    /// <summary>A name-list no longer than this is read; OpenSSH's longest default list is under 600 bytes.</summary>
    public const int MaxNameListLength = 4096;

    public const int MaxNames = 128;

    public required byte[] Cookie { get; init; }
    public required string[] Kex { get; init; }
    public required string[] HostKey { get; init; }
    public required string[] CiphersClientToServer { get; init; }
    public required string[] CiphersServerToClient { get; init; }
    public required string[] MacsClientToServer { get; init; }
    public required string[] MacsServerToClient { get; init; }
    public required string[] CompressionClientToServer { get; init; }
    public required string[] CompressionServerToClient { get; init; }
    public string[] LanguagesClientToServer { get; init; } = [];
    public string[] LanguagesServerToClient { get; init; } = [];
    public bool FirstKexPacketFollows { get; init; }

    /// <summary>An offer with a fresh random cookie and the same lists both ways.</summary>
    public static SshKexInit Offer(string[] kex, string[] hostKey, string[] ciphers, string[] macs, string[] compression) => new()
    {
        Cookie = RandomNumberGenerator.GetBytes(16),
        Kex = kex,
        HostKey = hostKey,
        CiphersClientToServer = ciphers,
        CiphersServerToClient = ciphers,
        MacsClientToServer = macs,
        MacsServerToClient = macs,
        CompressionClientToServer = compression,
        CompressionServerToClient = compression,
    };

    /// <summary>Parses a whole KEXINIT payload (message number included); false with the reason when it is not one.</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out SshKexInit? message, out string? error)
    {
        message = null;
        error = "malformed KEXINIT";
        var r = new SshSpanReader(payload);
        if (!r.TryReadByte(out var type) || type != (byte)SshMessage.KexInit || !r.TryReadBytes(16, out var cookie))
        {
            return false;
        }

        var lists = new string[10][];
        for (var i = 0; i < lists.Length; i++)
        {
            if (!r.TryReadNameList(MaxNameListLength, MaxNames, out lists[i]))
            {
                error = $"KEXINIT name-list {i + 1} is malformed or over its limits";
                return false;
            }
        }

        if (!r.TryReadBoolean(out var follows) || !r.TryReadUInt32(out _))
        {
            return false;
        }

        message = new SshKexInit
        {
            Cookie = cookie.ToArray(),
            Kex = lists[0],
            HostKey = lists[1],
            CiphersClientToServer = lists[2],
            CiphersServerToClient = lists[3],
            MacsClientToServer = lists[4],
            MacsServerToClient = lists[5],
            CompressionClientToServer = lists[6],
            CompressionServerToClient = lists[7],
            LanguagesClientToServer = lists[8],
            LanguagesServerToClient = lists[9],
            FirstKexPacketFollows = follows,
        };
        error = null;
        return true;
    }

    /// <summary>The payload, message number included (what the exchange hash takes as I_C or I_S).</summary>
    public byte[] ToPayload()
    {
        var output = new ArrayBufferWriter<byte>(512);
        SshWire.WriteByte(output, (byte)SshMessage.KexInit);
        SshWire.WriteRaw(output, Cookie);
        foreach (var list in new[] { Kex, HostKey, CiphersClientToServer, CiphersServerToClient, MacsClientToServer, MacsServerToClient, CompressionClientToServer, CompressionServerToClient, LanguagesClientToServer, LanguagesServerToClient })
        {
            SshWire.WriteNameList(output, list);
        }

        SshWire.WriteBoolean(output, FirstKexPacketFollows);
        SshWire.WriteUInt32(output, 0);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The algorithm RFC 4253 §7.1 picks: the client's first choice that the server also offers.</summary>
    public static string? Choose(IReadOnlyList<string> client, IReadOnlyList<string> server) => client.FirstOrDefault(server.Contains);
}

/// <summary>The algorithms both sides agreed on, or the first list with nothing in common.</summary>
public sealed record SshNegotiated(string Kex, string HostKey, string CipherClientToServer, string CipherServerToClient, string MacClientToServer, string MacServerToClient, string CompressionClientToServer, string CompressionServerToClient)
{
    /// <summary>Negotiates; null with <paramref name="error"/> naming what had no match (OpenSSH's words).</summary>
    public static SshNegotiated? From(SshKexInit client, SshKexInit server, out string? error)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(server);
        error = null;
        var picks = new (string What, string[] Client, string[] Server)[]
        {
            ("key exchange method", client.Kex, server.Kex),
            ("host key type", client.HostKey, server.HostKey),
            ("cipher", client.CiphersClientToServer, server.CiphersClientToServer),
            ("cipher", client.CiphersServerToClient, server.CiphersServerToClient),
            ("MAC", client.MacsClientToServer, server.MacsClientToServer),
            ("MAC", client.MacsServerToClient, server.MacsServerToClient),
            ("compression method", client.CompressionClientToServer, server.CompressionClientToServer),
            ("compression method", client.CompressionServerToClient, server.CompressionServerToClient),
        };
        var chosen = new string[picks.Length];
        for (var i = 0; i < picks.Length; i++)
        {
            // AEAD ciphers carry their own integrity: no MAC is negotiated for them (RFC 5647, OpenSSH).
            if (picks[i].What == "MAC" && IsAead(chosen[i - 2]))
            {
                chosen[i] = "<implicit>";
                continue;
            }

            if (SshKexInit.Choose(picks[i].Client, picks[i].Server) is not { } pick)
            {
                error = $"no matching {picks[i].What} found. Their offer: {string.Join(',', picks[i].Client)}";
                return null;
            }

            chosen[i] = pick;
        }

        return new SshNegotiated(chosen[0], chosen[1], chosen[2], chosen[3], chosen[4], chosen[5], chosen[6], chosen[7]);
    }

    private static bool IsAead(string cipher) =>
        cipher.EndsWith("-gcm@openssh.com", StringComparison.Ordinal) || cipher.StartsWith("chacha20-poly1305", StringComparison.Ordinal);
}

/// <summary>SSH_MSG_DISCONNECT (RFC 4253 §11.1).</summary>
public sealed record SshDisconnect(uint Reason, string Description)
{
    public const int MaxDescriptionLength = 1024;

    public static bool TryParse(ReadOnlySpan<byte> payload, out SshDisconnect? message)
    {
        message = null;
        var r = new SshSpanReader(payload);
        if (!r.TryReadByte(out var type) || type != (byte)SshMessage.Disconnect || !r.TryReadUInt32(out var reason) || !r.TryReadString(MaxDescriptionLength, out var text))
        {
            return false;
        }

        // The language tag is often left out by small implementations; it is not needed.
        message = new SshDisconnect(reason, Encoding.UTF8.GetString(text));
        return true;
    }

    public byte[] ToPayload()
    {
        var output = new ArrayBufferWriter<byte>(64 + Description.Length);
        SshWire.WriteByte(output, (byte)SshMessage.Disconnect);
        SshWire.WriteUInt32(output, Reason);
        SshWire.WriteString(output, Description);
        SshWire.WriteString(output, string.Empty);
        return output.WrittenSpan.ToArray();
    }
}

/// <summary>SSH_MSG_KEX_ECDH_INIT (RFC 5656 §4): the client's ephemeral public key Q_C.</summary>
public static class SshEcdhInit
{
    /// <summary>An uncompressed point of nistp521 is 133 bytes; anything longer is not a key.</summary>
    public const int MaxPublicKeyLength = 133;

    public static bool TryParse(ReadOnlySpan<byte> payload, out byte[] publicKey)
    {
        publicKey = [];
        var r = new SshSpanReader(payload);
        if (!r.TryReadByte(out var type) || type != (byte)SshMessage.KexEcdhInit || !r.TryReadString(MaxPublicKeyLength, out var q) || r.Remaining != 0)
        {
            return false;
        }

        publicKey = q.ToArray();
        return true;
    }

    public static byte[] ToPayload(ReadOnlySpan<byte> publicKey)
    {
        var output = new ArrayBufferWriter<byte>(8 + publicKey.Length);
        SshWire.WriteByte(output, (byte)SshMessage.KexEcdhInit);
        SshWire.WriteString(output, publicKey);
        return output.WrittenSpan.ToArray();
    }
}

/// <summary>SSH_MSG_KEX_ECDH_REPLY (RFC 5656 §4): the host key K_S, the server's ephemeral key Q_S and the signature of H.</summary>
public sealed record SshEcdhReply(byte[] HostKey, byte[] PublicKey, byte[] Signature)
{
    /// <summary>Host keys and signatures longer than this are refused (an RSA 16384-bit key is about 2 KiB).</summary>
    public const int MaxBlobLength = 8192;

    public static bool TryParse(ReadOnlySpan<byte> payload, out SshEcdhReply? message)
    {
        message = null;
        var r = new SshSpanReader(payload);
        if (!r.TryReadByte(out var type) || type != (byte)SshMessage.KexEcdhReply ||
            !r.TryReadString(MaxBlobLength, out var hostKey) ||
            !r.TryReadString(SshEcdhInit.MaxPublicKeyLength, out var q) ||
            !r.TryReadString(MaxBlobLength, out var signature))
        {
            return false;
        }

        message = new SshEcdhReply(hostKey.ToArray(), q.ToArray(), signature.ToArray());
        return true;
    }

    public byte[] ToPayload()
    {
        var output = new ArrayBufferWriter<byte>(32 + HostKey.Length + PublicKey.Length + Signature.Length);
        SshWire.WriteByte(output, (byte)SshMessage.KexEcdhReply);
        SshWire.WriteString(output, HostKey);
        SshWire.WriteString(output, PublicKey);
        SshWire.WriteString(output, Signature);
        return output.WrittenSpan.ToArray();
    }
}
