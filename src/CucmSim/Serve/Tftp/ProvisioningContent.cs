using System.Collections.Concurrent;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace CucmSim.Serve.Tftp;

public enum LookupStatus
{
    Found,
    NotFound,

    /// <summary>Absolute path, traversal or another name that must not be looked up.</summary>
    Refused,
}

/// <summary>Bytes of one served file: in memory, or read per block from disk. Dispose when the transfer ends.</summary>
public abstract class ProvisioningFile : IDisposable
{
    protected ProvisioningFile(string name, bool generated)
    {
        Name = name;
        Generated = generated;
    }

    /// <summary>The name as served (the root's spelling, or the generated name).</summary>
    public string Name { get; }

    public bool Generated { get; }

    public abstract long Length { get; }

    /// <summary>Copies bytes from <paramref name="offset"/>; returns how many (less only at the end).</summary>
    public abstract int Read(long offset, Span<byte> destination);

    public string ContentType =>
        Name.EndsWith(".xml", StringComparison.OrdinalIgnoreCase) ? "text/xml" :
        Name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) ? "text/plain" : "application/octet-stream";

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

public sealed class MemoryFile(string name, ReadOnlyMemory<byte> data, bool generated) : ProvisioningFile(name, generated)
{
    public ReadOnlyMemory<byte> Data { get; } = data;

    public override long Length => Data.Length;

    public override int Read(long offset, Span<byte> destination)
    {
        if (offset >= Data.Length)
        {
            return 0;
        }

        var slice = Data.Span[(int)offset..];
        var n = Math.Min(slice.Length, destination.Length);
        slice[..n].CopyTo(destination);
        return n;
    }
}

internal sealed class DiskFile(string name, SafeFileHandle handle, long length) : ProvisioningFile(name, generated: false)
{
    public override long Length => length;

    public override int Read(long offset, Span<byte> destination)
    {
        var total = 0;
        while (total < destination.Length && offset + total < length)
        {
            var n = RandomAccess.Read(handle, destination[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            handle.Dispose();
        }
    }
}

/// <summary>
/// What the provisioning ports serve: files of the root (names matched case-insensitively, as phones
/// expect), else the generated SEP&lt;MAC&gt;.cnf.xml, XMLDefault.cnf.xml and ConfigFileCacheList.txt.
/// CTL and ITL files exist only if the root has them (a non-secure cluster answers "not found").
/// </summary>
public sealed class ProvisioningContent
{
    private const int MaxIndexedFiles = 100_000;
    private const int MaxDepth = 8;
    private static readonly TimeSpan IndexMaxAge = TimeSpan.FromSeconds(2);

    /// <summary>A root file found in memory is served again without looking at the disk for this long.</summary>
    private static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(1);

    private const int MaxFresh = 10_000;

    private readonly TftpOptions _options;
    private readonly ProvisioningPorts _ports;
    private readonly ServeContext _context;
    private readonly string? _root;
    private readonly ConcurrentDictionary<string, CachedFile> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FreshHit> _fresh = new(StringComparer.Ordinal);
    private readonly Lock _indexLock = new();
    private long _cached;
    private Dictionary<string, string>? _index;
    private long _indexBuilt;

    public ProvisioningContent(TftpOptions options, ProvisioningPorts ports, ServeContext context)
    {
        _options = options;
        _ports = ports;
        _context = context;
        _root = options.Root is null ? null : Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Root));
    }

    public ProvisioningPorts Ports => _ports;

    /// <summary>
    /// Checks a requested name: relative, '/'-separated, no '.', '..' or empty segment, no backslash or
    /// drive colon, printable ASCII. Returns the refusal reason, or null when the name may be looked up.
    /// </summary>
    public static string? CheckName(string name)
    {
        if (name.Length is 0 or > 255)
        {
            return "empty or overlong name";
        }

        if (name[0] == '/')
        {
            return "absolute paths are refused";
        }

        if (name.Contains('\\', StringComparison.Ordinal) || name.Contains(':', StringComparison.Ordinal))
        {
            return "backslashes and drive letters are refused";
        }

        foreach (var range in name.AsSpan().Split('/'))
        {
            var segment = name.AsSpan(range);
            if (segment.IsEmpty || segment is "." or "..")
            {
                return "path traversal is refused";
            }
        }

        foreach (var c in name)
        {
            if (c is < ' ' or > '~')
            {
                return "control or non-ASCII character";
            }
        }

        return null;
    }

    /// <summary>
    /// Finds a file. <paramref name="requester"/> and <paramref name="channel"/> go into generated configs, and so does
    /// <paramref name="embedded"/>, the address the phone is told to reach (the one its request reached, see
    /// <see cref="ServeContext.Embedded"/>).
    /// </summary>
    public LookupStatus Lookup(string name, string requester, string channel, System.Net.IPAddress embedded, out ProvisioningFile? file, out string? reason)
    {
        file = null;
        reason = CheckName(name);
        if (reason is not null)
        {
            return LookupStatus.Refused;
        }

        if (_fresh.TryGetValue(name, out var hit) && _context.Time.GetElapsedTime(hit.At) < FreshFor)
        {
            // The same name was found moments ago: no stat, no link check (changes show within a second).
            file = new MemoryFile(hit.Name, hit.Data, generated: false);
            return LookupStatus.Found;
        }

        if (_root is not null && FindInRoot(name) is { } path)
        {
            file = Open(path, out reason);
            if (file is not null)
            {
                if (file is MemoryFile memory)
                {
                    if (_fresh.Count >= MaxFresh)
                    {
                        _fresh.Clear();
                    }

                    _fresh[name] = new FreshHit(memory.Name, memory.Data, _context.Time.GetTimestamp());
                }

                return LookupStatus.Found;
            }

            if (reason is not null)
            {
                return LookupStatus.Refused;
            }
        }

        if (PhoneConfig.DeviceName(name) is { } device)
        {
            var sip = !string.Equals(_options.DeviceProtocol, "sccp", StringComparison.OrdinalIgnoreCase);
            file = Generated(device + ".cnf.xml", PhoneConfig.DeviceConfig(device, sip, _ports, embedded, requester, channel));
            return LookupStatus.Found;
        }

        if (string.Equals(name, PhoneConfig.DefaultConfigName, StringComparison.OrdinalIgnoreCase))
        {
            file = Generated(PhoneConfig.DefaultConfigName, PhoneConfig.DefaultConfig(_ports, embedded, requester, channel));
            return LookupStatus.Found;
        }

        if (string.Equals(name, PhoneConfig.CacheListName, StringComparison.OrdinalIgnoreCase))
        {
            var names = new SortedSet<string>(StringComparer.OrdinalIgnoreCase) { PhoneConfig.DefaultConfigName };
            foreach (var entry in Index().Values)
            {
                names.Add(Path.GetRelativePath(_root!, entry).Replace('\\', '/'));
            }

            names.Remove(PhoneConfig.CacheListName);
            file = Generated(PhoneConfig.CacheListName, PhoneConfig.CacheList(names));
            return LookupStatus.Found;
        }

        reason = "File not found";
        return LookupStatus.NotFound;
    }

    private static MemoryFile Generated(string name, string text) => new(name, Encoding.UTF8.GetBytes(text), generated: true);

    private string? FindInRoot(string name)
    {
        var exact = Path.Combine(_root!, name);
        if (File.Exists(exact))
        {
            return exact;
        }

        var index = Index();
        if (index.TryGetValue(name, out var path))
        {
            return path;
        }

        // A file added since the index was built: rebuild (at most every two seconds) and look again.
        if (_context.Time.GetElapsedTime(Interlocked.Read(ref _indexBuilt)) >= IndexMaxAge)
        {
            index = Index(rebuild: true);
            return index.GetValueOrDefault(name);
        }

        return null;
    }

    private Dictionary<string, string> Index(bool rebuild = false)
    {
        if (_root is null)
        {
            return [];
        }

        lock (_indexLock)
        {
            if (_index is not null && !rebuild)
            {
                return _index;
            }

            var index = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var options = new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = MaxDepth, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden };
            try
            {
                foreach (var path in Directory.EnumerateFiles(_root, "*", options))
                {
                    var relative = Path.GetRelativePath(_root, path).Replace('\\', '/');
                    index.TryAdd(relative, path);
                    if (index.Count >= MaxIndexedFiles)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }

            _index = index;
            Interlocked.Exchange(ref _indexBuilt, _context.Time.GetTimestamp());
            return index;
        }
    }

    private ProvisioningFile? Open(string path, out string? refusal)
    {
        refusal = null;
        FileInfo info;
        try
        {
            info = new FileInfo(path);
            if (!info.Exists)
            {
                return null;
            }

            // A link must not lead out of the root.
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
                if (target is null || !target.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    refusal = "link leads out of the file root";
                    return null;
                }
            }

            var name = Path.GetRelativePath(_root!, path).Replace('\\', '/');
            var stamp = info.LastWriteTimeUtc.Ticks;
            if (_cache.TryGetValue(path, out var cached) && cached.Length == info.Length && cached.Stamp == stamp)
            {
                return new MemoryFile(name, cached.Data, generated: false);
            }

            if (info.Length <= _options.CacheFileLimit)
            {
                var data = File.ReadAllBytes(path);
                if (Interlocked.Add(ref _cached, data.Length) > _options.CacheLimit)
                {
                    _cache.Clear();
                    Interlocked.Exchange(ref _cached, data.Length);
                }

                _cache[path] = new CachedFile(data, data.Length, stamp);
                return new MemoryFile(name, data, generated: false);
            }

            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            return new DiskFile(name, handle, RandomAccess.GetLength(handle));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            refusal = "file not readable";
            return null;
        }
    }

    private sealed record CachedFile(byte[] Data, long Length, long Stamp);

    private sealed record FreshHit(string Name, ReadOnlyMemory<byte> Data, long At);
}
