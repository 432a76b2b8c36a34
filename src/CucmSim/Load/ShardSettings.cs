using System.Net;

namespace CucmSim.Load;

/// <summary>How this process takes part in a sharded run (the whole run: shard 0/1, no coordination).</summary>
internal sealed record ShardSettings
{
    /// <summary>The coordinator's port when --coordinator or --coordinator-listen names none.</summary>
    public const int DefaultPort = 9910;

    public ShardSpec Shard { get; init; } = ShardSpec.Whole;

    /// <summary>Shard 0's address, for shards 1..n-1.</summary>
    public (string Host, int Port)? Coordinator { get; init; }

    /// <summary>Where shard 0 listens.</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, DefaultPort);

    /// <summary>A start agreed beforehand (--start-at): no coordination.</summary>
    public DateTimeOffset? StartAt { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    public int LocalShards { get; init; } = 1;

    public string? PlanFile { get; init; }

    /// <summary>Shard 0 of several, without --start-at: it coordinates.</summary>
    public bool Coordinates => !Shard.IsWhole && Shard.Index == 0 && StartAt is null;
}
