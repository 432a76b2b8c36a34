using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace CucmSim.Protocols.Snmp;

/// <summary>USM authentication protocols: HMAC-SHA-96 (RFC 3414 §7) and HMAC-SHA-256-192 (RFC 7860 §4.2).</summary>
public enum SnmpAuth
{
    None,
    Sha1,
    Sha256,
}

/// <summary>USM privacy protocols: AES-128 in CFB128 mode (RFC 3826).</summary>
public enum SnmpPriv
{
    None,
    Aes128,
}

/// <summary>USM cryptography: password to key, key localization, message authentication, AES-CFB privacy.</summary>
public static class Usm
{
    /// <summary>Bytes of msgPrivacyParameters for AES (RFC 3826 §3.1.2.1: the 64-bit salt).</summary>
    public const int AesSaltLength = 8;

    /// <summary>Length of msgAuthenticationParameters: 12 for HMAC-SHA-96, 24 for HMAC-SHA-256-192.</summary>
    public static int MacLength(SnmpAuth auth) => auth switch
    {
        SnmpAuth.Sha1 => 12,
        SnmpAuth.Sha256 => 24,
        _ => 0,
    };

    /// <summary>RFC 3414 A.2: the hash of the password repeated to 1 048 576 bytes.</summary>
    public static byte[] PasswordToKey(SnmpAuth auth, string password)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        var pw = Encoding.UTF8.GetBytes(password);
        using var hash = IncrementalHash.CreateHash(HashName(auth));
        Span<byte> block = stackalloc byte[64];
        var index = 0;
        for (var count = 0; count < 1_048_576; count += 64)
        {
            for (var i = 0; i < 64; i++)
            {
                block[i] = pw[index++ % pw.Length];
            }

            hash.AppendData(block);
        }

        return hash.GetHashAndReset();
    }

    /// <summary>RFC 3414 A.2: localized key = H(Ku ‖ snmpEngineID ‖ Ku).</summary>
    public static byte[] Localize(SnmpAuth auth, byte[] ku, ReadOnlySpan<byte> engineId)
    {
        ArgumentNullException.ThrowIfNull(ku);
        using var hash = IncrementalHash.CreateHash(HashName(auth));
        hash.AppendData(ku);
        hash.AppendData(engineId);
        hash.AppendData(ku);
        return hash.GetHashAndReset();
    }

    /// <summary>The truncated HMAC of a whole message whose authentication parameters are zeroed (RFC 3414 §6.3.1, RFC 7860 §4.2.1).</summary>
    public static void ComputeMac(SnmpAuth auth, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> mac)
    {
        Span<byte> full = stackalloc byte[32];
        var n = auth == SnmpAuth.Sha256 ? HMACSHA256.HashData(key, message, full) : HMACSHA1.HashData(key, message, full);
        full[..Math.Min(n, MacLength(auth))].CopyTo(mac);
    }

    /// <summary>
    /// RFC 3414 §3.2 step 6 (and §3.1 step 4 for the manager): the MAC over the whole message with its
    /// authentication parameters zeroed equals them. <paramref name="scratch"/> holds the copy (at least the message's length).
    /// </summary>
    public static bool Verify(SnmpAuth auth, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Range authParameters, Span<byte> scratch)
    {
        var length = MacLength(auth);
        if (length == 0 || authParameters.GetOffsetAndLength(message.Length).Length != length)
        {
            return false;
        }

        var copy = scratch[..message.Length];
        message.CopyTo(copy);
        copy[authParameters].Clear();
        Span<byte> mac = stackalloc byte[32];
        ComputeMac(auth, key, copy, mac);
        return CryptographicOperations.FixedTimeEquals(mac[..length], message[authParameters]);
    }

    /// <summary>
    /// Signs a whole SNMPv3 message in place: finds its (zeroed) authentication parameters, which BER may have moved,
    /// and writes the MAC there. False when the message does not decode.
    /// </summary>
    public static bool Sign(SnmpAuth auth, ReadOnlySpan<byte> key, Span<byte> message)
    {
        if (SnmpCodec.DecodeMessage(message, out var m) != System.Buffers.OperationStatus.Done
            || SnmpCodec.DecodeUsm(message, m.SecurityParameters, out var usm) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        Span<byte> mac = stackalloc byte[32];
        ComputeMac(auth, key, message, mac);
        mac[..MacLength(auth)].CopyTo(message[usm.AuthParameters]);
        return true;
    }

    /// <summary>
    /// AES-128-CFB (RFC 3826 §3.1.1): key = first 16 bytes of the localized privacy key, IV = boots ‖ time ‖ salt.
    /// CFB is a stream mode, so the output is exactly as long as the input.
    /// </summary>
    public static byte[] AesCfb(bool encrypt, ReadOnlySpan<byte> privKey, int boots, int time, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> input)
    {
        if (salt.Length != AesSaltLength || privKey.Length < 16)
        {
            throw new CryptographicException("AES privacy needs a 16-byte key and an 8-byte salt");
        }

        Span<byte> iv = stackalloc byte[16];
        BinaryPrimitives.WriteInt32BigEndian(iv, boots);
        BinaryPrimitives.WriteInt32BigEndian(iv[4..], time);
        salt.CopyTo(iv[8..]);
        using var aes = Aes.Create();
        aes.Key = privKey[..16].ToArray();

        // .NET's CFB without padding wants whole blocks: pad, run, and keep the input's length.
        var padded = new byte[(input.Length + 15) & ~15];
        input.CopyTo(padded);
        var output = encrypt
            ? aes.EncryptCfb(padded, iv, PaddingMode.None, 128)
            : aes.DecryptCfb(padded, iv, PaddingMode.None, 128);
        return output.AsSpan(0, input.Length).ToArray();
    }

    private static HashAlgorithmName HashName(SnmpAuth auth) => auth == SnmpAuth.Sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1;
}
