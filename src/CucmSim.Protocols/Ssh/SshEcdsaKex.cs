using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace CucmSim.Protocols.Ssh;

/// <summary>
/// ecdh-sha2-nistp256 with an ecdsa-sha2-nistp256 host key (RFC 5656): the host key blob, the exchange hash H
/// (RFC 5656 §4: V_C, V_S, I_C, I_S, K_S, Q_C, Q_S, K), its signature, and OpenSSH's SHA256 fingerprint.
/// </summary>
public static class SshEcdsaKex
{
    public const string KexAlgorithm = "ecdh-sha2-nistp256";
    public const string HostKeyAlgorithm = "ecdsa-sha2-nistp256";
    public const string CurveName = "nistp256";

    /// <summary>An uncompressed P-256 point: 0x04, X, Y.</summary>
    public const int PointLength = 65;

    /// <summary>The point Q of a P-256 key in SSH's uncompressed encoding (SEC 1 §2.3.3).</summary>
    public static byte[] EncodePoint(ECParameters parameters)
    {
        var q = new byte[PointLength];
        q[0] = 0x04;
        parameters.Q.X!.CopyTo(q, 1);
        parameters.Q.Y!.CopyTo(q, 33);
        return q;
    }

    /// <summary>A P-256 public key from an uncompressed point; false when the bytes are not one (the curve check is the importer's).</summary>
    public static bool TryDecodePoint(ReadOnlySpan<byte> q, out ECParameters parameters)
    {
        parameters = default;
        if (q.Length != PointLength || q[0] != 0x04)
        {
            return false;
        }

        parameters = new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = q.Slice(1, 32).ToArray(), Y = q.Slice(33, 32).ToArray() },
        };
        return true;
    }

    /// <summary>The host key blob K_S: string "ecdsa-sha2-nistp256", string "nistp256", string Q (RFC 5656 §3.1).</summary>
    public static byte[] HostKeyBlob(ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var output = new ArrayBufferWriter<byte>(104);
        SshWire.WriteString(output, HostKeyAlgorithm);
        SshWire.WriteString(output, CurveName);
        SshWire.WriteString(output, EncodePoint(key.ExportParameters(false)));
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Reads a host key blob: its algorithm name always (when readable), the P-256 key when it is ecdsa-sha2-nistp256.</summary>
    public static bool TryReadHostKey(ReadOnlySpan<byte> blob, out string algorithm, out ECDsa? key)
    {
        algorithm = string.Empty;
        key = null;
        var r = new SshSpanReader(blob);
        if (!r.TryReadString(SshWire.MaxNameLength, out var name))
        {
            return false;
        }

        algorithm = Encoding.ASCII.GetString(name);
        if (algorithm != HostKeyAlgorithm || !r.TryReadString(SshWire.MaxNameLength, out var curve) || !curve.SequenceEqual("nistp256"u8) ||
            !r.TryReadString(PointLength, out var q) || r.Remaining != 0 || !TryDecodePoint(q, out var parameters))
        {
            return false;
        }

        try
        {
            key = ECDsa.Create(parameters);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>OpenSSH's fingerprint of a host key blob: "SHA256:" and the unpadded base64 of its SHA-256.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> hostKeyBlob) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(hostKeyBlob)).TrimEnd('=');

    /// <summary>The key as a line of an OpenSSH public key file or known_hosts entry: "ecdsa-sha2-nistp256 AAAA...".</summary>
    public static string PublicKeyLine(ReadOnlySpan<byte> hostKeyBlob) => HostKeyAlgorithm + " " + Convert.ToBase64String(hostKeyBlob);

    /// <summary>The exchange hash H = SHA-256 of V_C, V_S, I_C, I_S, K_S, Q_C, Q_S (strings) and K (mpint).</summary>
    public static byte[] ExchangeHash(string clientVersion, string serverVersion, ReadOnlySpan<byte> clientKexInit, ReadOnlySpan<byte> serverKexInit,
        ReadOnlySpan<byte> hostKey, ReadOnlySpan<byte> clientPublic, ReadOnlySpan<byte> serverPublic, ReadOnlySpan<byte> sharedSecret)
    {
        var output = new ArrayBufferWriter<byte>(1024);
        SshWire.WriteString(output, Encoding.ASCII.GetBytes(clientVersion));
        SshWire.WriteString(output, Encoding.ASCII.GetBytes(serverVersion));
        SshWire.WriteString(output, clientKexInit);
        SshWire.WriteString(output, serverKexInit);
        SshWire.WriteString(output, hostKey);
        SshWire.WriteString(output, clientPublic);
        SshWire.WriteString(output, serverPublic);
        SshWire.WriteMpint(output, sharedSecret);
        return SHA256.HashData(output.WrittenSpan);
    }

    /// <summary>Signs H: string "ecdsa-sha2-nistp256", string (mpint r, mpint s) over SHA-256 of H (RFC 5656 §3.1.2).</summary>
    public static byte[] Sign(ECDsa key, ReadOnlySpan<byte> exchangeHash)
    {
        ArgumentNullException.ThrowIfNull(key);
        var rs = key.SignData(exchangeHash, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var inner = new ArrayBufferWriter<byte>(80);
        SshWire.WriteMpint(inner, rs.AsSpan(0, 32));
        SshWire.WriteMpint(inner, rs.AsSpan(32));
        var output = new ArrayBufferWriter<byte>(112);
        SshWire.WriteString(output, HostKeyAlgorithm);
        SshWire.WriteString(output, inner.WrittenSpan);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Checks a signature blob of H against the host key; false for any other form or a wrong signature.</summary>
    public static bool Verify(ECDsa key, ReadOnlySpan<byte> exchangeHash, ReadOnlySpan<byte> signatureBlob)
    {
        ArgumentNullException.ThrowIfNull(key);
        var r = new SshSpanReader(signatureBlob);
        if (!r.TryReadString(SshWire.MaxNameLength, out var name) || !name.SequenceEqual("ecdsa-sha2-nistp256"u8) || !r.TryReadString(80, out var inner))
        {
            return false;
        }

        var ir = new SshSpanReader(inner);
        var rs = new byte[64];
        if (!TryReadScalar(ref ir, rs.AsSpan(0, 32)) || !TryReadScalar(ref ir, rs.AsSpan(32)) || ir.Remaining != 0)
        {
            return false;
        }

        return key.VerifyData(exchangeHash, rs, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>A positive mpint of at most 32 significant bytes, right-aligned into the destination.</summary>
    private static bool TryReadScalar(ref SshSpanReader reader, Span<byte> destination)
    {
        if (!reader.TryReadString(33, out var digits))
        {
            return false;
        }

        if (digits.Length == 33)
        {
            if (digits[0] != 0)
            {
                return false;
            }

            digits = digits[1..];
        }

        destination.Clear();
        digits.CopyTo(destination[(32 - digits.Length)..]);
        return true;
    }

    /// <summary>
    /// The server's half of the exchange: a fresh ephemeral key, the shared secret with the client's Q_C, and the
    /// reply's Q_S. False when Q_C is not a point on P-256.
    /// </summary>
    public static bool TryAgree(ReadOnlySpan<byte> peerPoint, out byte[] ownPoint, out byte[] sharedSecret)
    {
        ownPoint = [];
        sharedSecret = [];
        if (!TryDecodePoint(peerPoint, out var parameters))
        {
            return false;
        }

        try
        {
            using var peer = ECDiffieHellman.Create(parameters);
            using var own = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
            sharedSecret = own.DeriveRawSecretAgreement(peer.PublicKey);
            ownPoint = EncodePoint(own.ExportParameters(false));
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
