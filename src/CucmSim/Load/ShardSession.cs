using System.Globalization;

namespace CucmSim.Load;

/// <summary>
/// This process's part in a sharded run, from the start to the merged report. Shard 0 coordinates (or nobody does,
/// with --start-at); shards 1..n-1 join it. The run waits for <see cref="StartAt"/>, pushes a snapshot a second
/// (<see cref="Push"/>), and ends with <see cref="FinishAsync"/>: a shard sends its report, shard 0 merges them all.
/// </summary>
internal sealed class ShardSession : IAsyncDisposable
{
    private readonly ShardCoordinator? _coordinator;
    private readonly ShardClient? _client;

    private ShardSession(ShardSettings settings, ShardCoordinator? coordinator, ShardClient? client, DateTimeOffset? startAt)
    {
        Settings = settings;
        _coordinator = coordinator;
        _client = client;
        StartAt = startAt;
    }

    public ShardSettings Settings { get; }

    public ShardSpec Shard => Settings.Shard;

    /// <summary>When every shard starts; null: now (a whole run).</summary>
    public DateTimeOffset? StartAt { get; }

    /// <summary>Fires when shard 0 calls the run off (a shard's side).</summary>
    public CancellationToken Aborted => _client?.Aborted ?? CancellationToken.None;

    public string? AbortReason => _client?.AbortReason;

    /// <summary>Where shard 0 listens (when it coordinates).</summary>
    public System.Net.IPEndPoint? Listening => _coordinator?.LocalEndPoint;

    /// <summary>
    /// Takes this process's part: shard 0 listens and waits for the others, a shard joins shard 0, and both come back
    /// with the common start. Throws a <see cref="ShardException"/> that says what is missing.
    /// </summary>
    public static async Task<ShardSession> OpenAsync(ShardSettings settings, LoadPlan plan, Action<string> log, Action<System.Net.IPEndPoint>? listening, CancellationToken cancellationToken)
    {
        if (settings.StartAt is { } at)
        {
            return new ShardSession(settings, null, null, at);
        }

        if (settings.Shard.IsWhole)
        {
            return new ShardSession(settings, null, null, null);
        }

        var hash = LoadPlanFile.Hash(plan);
        if (settings.Coordinates)
        {
            var coordinator = new ShardCoordinator(settings.Listen, settings.Shard.Count, hash, log);
            try
            {
                coordinator.Start();
                listening?.Invoke(coordinator.LocalEndPoint);
                log($"shard {settings.Shard}: coordinating on {coordinator.LocalEndPoint} (plan {hash}); waiting up to {Seconds(settings.Timeout)} s for shards 1..{(settings.Shard.Count - 1).ToString(CultureInfo.InvariantCulture)}");
                var start = await coordinator.WaitForShardsAsync(settings.Timeout, cancellationToken);
                log($"shard {settings.Shard}: every shard is ready; the run starts at {start.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} UTC");
                return new ShardSession(settings, coordinator, null, start);
            }
            catch
            {
                await coordinator.DisposeAsync();
                throw;
            }
        }

        var (host, port) = settings.Coordinator!.Value;
        var client = await ShardClient.ConnectAsync(host, port, settings.Shard, hash, settings.Timeout, log, cancellationToken);
        try
        {
            log($"shard {settings.Shard}: ready (plan {hash}); waiting for shard 0's start");
            var start = await client.WaitForStartAsync(settings.Timeout + settings.Timeout, cancellationToken);
            return new ShardSession(settings, null, client, start);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Pushes the last interval and the totals to shard 0 (a shard's side; nothing otherwise).</summary>
    public void Push(LoadInterval interval, LoadCounters totals, IReadOnlyDictionary<string, long> failures) => _client?.PushSnapshot(Shard, interval, totals, failures);

    /// <summary>
    /// The other shards' latest snapshots (shard 0's side; empty otherwise), for the merged live view: their counters
    /// since the start, and their last intervals.
    /// </summary>
    public IReadOnlyDictionary<int, ShardMessage> Others() => _coordinator?.Latest() ?? new Dictionary<int, ShardMessage>();

    /// <summary>
    /// Ends this process's part. A shard sends <paramref name="own"/> to shard 0 and returns it; shard 0 waits for the
    /// others' reports and returns all merged (with the shards that sent none named in <paramref name="missing"/>).
    /// </summary>
    public async Task<(LoadReport Report, string? Missing)> FinishAsync(LoadReport own, CancellationToken cancellationToken)
    {
        own.Shard = Shard.ToString();
        if (_client is not null)
        {
            try
            {
                await _client.SendReportAsync(Shard, own, Settings.Timeout, cancellationToken);
                return (own, null);
            }
            catch (ShardException e)
            {
                return (own, e.Message);
            }
        }

        if (_coordinator is null)
        {
            return (own, null);
        }

        try
        {
            var others = await _coordinator.WaitForReportsAsync(Settings.Timeout, cancellationToken);
            return (LoadReport.Merge([own, .. others]), null);
        }
        catch (ShardException e)
        {
            return (LoadReport.Merge([own, .. e.Partial]), e.Message + "; the report merges the shards that came");
        }
    }

    /// <summary>Calls the run off: the shards are told why (shard 0's side).</summary>
    public Task AbortAsync(string reason) => _coordinator?.AbortAsync(reason) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_coordinator is not null)
        {
            await _coordinator.DisposeAsync();
        }

        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
