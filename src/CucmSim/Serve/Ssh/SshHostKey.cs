using System.Security.Cryptography;
using CucmSim.Protocols.Ssh;

namespace CucmSim.Serve.Ssh;

/// <summary>
/// The SSH host key of this node: ECDSA P-256, made at the first start and kept in the state directory beside the
/// certificates (ssh/ssh_host_ecdsa_key as PKCS#8 PEM, and the .pub in OpenSSH's format), so that a client's
/// known_hosts stays valid across runs. Its fingerprint is printed and recorded at start for users to compare.
/// </summary>
public sealed class SshHostKey : IDisposable
{
    private readonly ECDsa _key;

    private SshHostKey(ECDsa key, string? path, string? problem = null)
    {
        _key = key;
        Path = path;
        Problem = problem;
        Blob = SshEcdsaKex.HostKeyBlob(key);
        Fingerprint = SshEcdsaKex.Fingerprint(Blob);
    }

    public string Algorithm => SshEcdsaKex.HostKeyAlgorithm;

    /// <summary>K_S: the public key as SSH sends it.</summary>
    public byte[] Blob { get; }

    /// <summary>"SHA256:..." as ssh and ssh-keygen -l print it.</summary>
    public string Fingerprint { get; }

    /// <summary>The private key file; null when the key lives in memory only.</summary>
    public string? Path { get; }

    /// <summary>Why the key is not kept in the state directory (it could not be written or read), when it is not.</summary>
    public string? Problem { get; }

    /// <summary>"ecdsa-sha2-nistp256 AAAA...", the line ssh-keyscan prints after the host.</summary>
    public string PublicKeyLine => SshEcdsaKex.PublicKeyLine(Blob);

    public byte[] Sign(ReadOnlySpan<byte> exchangeHash) => SshEcdsaKex.Sign(_key, exchangeHash);

    /// <summary>The state directory's key; a key for this run only when the directory cannot keep one (and why).</summary>
    public static SshHostKey ForState(string stateDirectory)
    {
        try
        {
            return LoadOrCreate(stateDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return new SshHostKey(ECDsa.Create(ECCurve.NamedCurves.nistP256), null, ex.Message);
        }
    }

    /// <summary>
    /// Loads the key of the state directory, or makes one there. Servers starting together on one directory end
    /// with the same key: the file appears whole (written aside, then moved) and the first one to land wins.
    /// </summary>
    public static SshHostKey LoadOrCreate(string stateDirectory)
    {
        var directory = System.IO.Path.Combine(stateDirectory, "ssh");
        var path = System.IO.Path.Combine(directory, "ssh_host_ecdsa_key");
        if (TryLoad(path) is { } existing)
        {
            return existing;
        }

        StateDirectory.Create(directory);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";

        // ssh-keygen -y and sshd refuse a private key others can read.
        using (var writer = new StreamWriter(temp, System.Text.Encoding.ASCII, StateDirectory.PrivateOptions()))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
            writer.Write('\n');
        }

        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
            key.Dispose();
            return TryLoad(path) ?? throw new InvalidDataException($"{path}: not a PEM EC P-256 private key");
        }

        var created = new SshHostKey(key, path);
        File.WriteAllText(path + ".pub", created.PublicKeyLine + " cucmsim\n");
        return created;
    }

    private static SshHostKey? TryLoad(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        StateDirectory.Tighten(path);
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (key.KeySize != 256)
            {
                key.Dispose();
                throw new InvalidDataException($"{path}: an EC key of {key.KeySize} bits; the SSH host key is P-256 (delete the file to make a new one)");
            }

            return new SshHostKey(key, path);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InvalidDataException($"{path}: not a PEM EC P-256 private key ({ex.Message}); delete the file to make a new one", ex);
        }
    }

    public void Dispose() => _key.Dispose();
}
