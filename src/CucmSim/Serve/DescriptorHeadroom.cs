using System.Runtime.InteropServices;

namespace CucmSim.Serve;

/// <summary>
/// Keeps descriptors free below the process's open-files limit for what the process needs besides connections:
/// the runtime (it opens files as it loads code and starts threads, and aborts when it cannot), the ledger, TLS
/// and the control API. A connection accepted with a descriptor inside that headroom is closed at once (the
/// client sees a reset) instead of being served. Descriptors are numbered from the lowest free one, so a
/// descriptor numbered N means every number below N is in use: when N reaches the limit minus the headroom,
/// fewer than the headroom are left. The limit is read at each check, since it can change from outside
/// (prlimit); getrlimit costs far less than the accept it follows.
/// </summary>
internal sealed partial class DescriptorHeadroom
{
    /// <summary>RLIMIT_NOFILE on Linux (x64 and arm64).</summary>
    private const int RlimitNofile = 7;

    /// <param name="headroom">Descriptors kept free of connections; 0 keeps none.</param>
    public DescriptorHeadroom(int headroom) => Headroom = headroom;

    /// <summary>Descriptors kept free below the limit before a listener refuses connections.</summary>
    public int Headroom { get; }

    /// <summary>What the control API keeps: a quarter of the listeners' headroom, so an operator can still look.</summary>
    public int ControlHeadroom => Headroom / 4;

    /// <summary>The soft open-files limit now (one system call), or long.MaxValue when unknown.</summary>
    public long Limit => Read();

    /// <summary>True when a new descriptor numbered <paramref name="descriptor"/> leaves fewer than <paramref name="reserve"/> free.</summary>
    public bool Short(long descriptor, int reserve) => reserve > 0 && descriptor >= Limit - reserve;

    private static long Read() =>
        OperatingSystem.IsLinux() && getrlimit(RlimitNofile, out var limit) == 0 && limit.Current < long.MaxValue ? (long)limit.Current : long.MaxValue;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);
}
