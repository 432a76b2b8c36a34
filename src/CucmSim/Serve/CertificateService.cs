using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace CucmSim.Serve;

public sealed record CertificateOptions
{
    /// <summary>Where generated certificates are kept between runs.</summary>
    public string StateDirectory { get; init; } = "cucmsim-state";

    /// <summary>DNS names for the subject alternative names (the first is the common name).</summary>
    public IReadOnlyList<string> HostNames { get; init; } = [];

    /// <summary>IP addresses for the subject alternative names.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; init; } = [];

    /// <summary>A certificate to present instead of a generated one: PEM (with <see cref="KeyFile"/>) or PFX.</summary>
    public string? CertificateFile { get; init; }

    public string? KeyFile { get; init; }

    public string? Password { get; init; }

    /// <summary>Ask clients for a certificate (mutual TLS); any certificate is accepted and recorded.</summary>
    public bool RequireClientCertificate { get; init; }
}

/// <summary>
/// Certificates for every TLS listener: the CallManager identity (SCCP 2443, SIP 5061, TVS, CAPF) and the
/// Tomcat identity (HTTPS). Generated at first start with the configured names and addresses as SANs and
/// persisted in the state directory, or supplied as PEM or PFX.
/// </summary>
public sealed class CertificateService
{
    private readonly CertificateOptions _options;
    private readonly Dictionary<string, X509Certificate2> _cache = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public CertificateService(CertificateOptions options) => _options = options;

    public CertificateOptions Options => _options;

    /// <summary>The certificate of an identity ("CallManager", "tomcat"), loaded or generated once.</summary>
    public X509Certificate2 Get(string identity = "CallManager")
    {
        lock (_lock)
        {
            if (_cache.TryGetValue(identity, out var cached))
            {
                return cached;
            }

            var certificate = _options.CertificateFile is not null ? LoadSupplied() : LoadOrCreate(identity);
            _cache[identity] = certificate;
            return certificate;
        }
    }

    /// <summary>Kestrel TLS options presenting the identity's certificate.</summary>
    public HttpsConnectionAdapterOptions TlsOptions(string identity = "CallManager") => new()
    {
        ServerCertificate = Get(identity),
        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificateMode = _options.RequireClientCertificate
            ? Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate
            : Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate,
        ClientCertificateValidation = (_, _, _) => true,
        HandshakeTimeout = TimeSpan.FromSeconds(10),
    };

    private X509Certificate2 LoadSupplied()
    {
        var file = _options.CertificateFile!;
        if (_options.KeyFile is not null || file.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".crt", StringComparison.OrdinalIgnoreCase))
        {
            using var pem = X509Certificate2.CreateFromPemFile(file, _options.KeyFile);
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }

        return X509CertificateLoader.LoadPkcs12FromFile(file, _options.Password);
    }

    private X509Certificate2 LoadOrCreate(string identity)
    {
        var path = Path.Combine(_options.StateDirectory, "certs", $"{identity}.pfx");
        if (File.Exists(path))
        {
            StateDirectory.Tighten(path);
            var existing = X509CertificateLoader.LoadPkcs12FromFile(path, null);
            if (existing.NotAfter > DateTime.UtcNow.AddDays(1) && SansMatch(existing))
            {
                return existing;
            }

            existing.Dispose();
        }

        var created = Create(identity);
        StateDirectory.WritePrivate(path, created.Export(X509ContentType.Pkcs12));
        return created;
    }

    private IReadOnlyList<string> Names() => _options.HostNames.Count > 0 ? _options.HostNames : [Environment.MachineName.ToLowerInvariant(), "localhost"];

    private IReadOnlyList<IPAddress> Addresses() => _options.Addresses.Count > 0 ? _options.Addresses : [IPAddress.Loopback, IPAddress.IPv6Loopback];

    private bool SansMatch(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        return extension is not null &&
               extension.EnumerateDnsNames().ToHashSet().SetEquals(Names()) &&
               extension.EnumerateIPAddresses().ToHashSet().SetEquals(Addresses());
    }

    private X509Certificate2 Create(string identity)
    {
        using var key = RSA.Create(2048);
        var names = Names();
        var request = new CertificateRequest($"CN={identity}-{names[0]}, OU=CucmSim, O=CucmSim", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }

        foreach (var address in Addresses())
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
