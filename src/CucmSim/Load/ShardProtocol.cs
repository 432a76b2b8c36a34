using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CucmSim.Load;

/// <summary>
/// One message between a shard and shard 0 (the coordinator). On the wire: a 4-byte big-endian length, then that many
/// bytes of UTF-8 JSON. The shard sends "ready", then "snapshot" every second of the run, then "report"; the coordinator
/// answers "start" (or "refused"), "done" for the report, "abort" when the run is called off, and "error" for input it
/// cannot use (and then closes the connection).
/// </summary>
public sealed class ShardMessage
{
    public const string Ready = "ready";
    public const string Start = "start";
    public const string Refused = "refused";
    public const string Snapshot = "snapshot";
    public const string Report = "report";
    public const string Done = "done";
    public const string Abort = "abort";
    public const string Error = "error";

    /// <summary>The protocol's version: a coordinator refuses a shard of another.</summary>
    public const int CurrentVersion = 1;

    public string Type { get; set; } = "";

    public int Version { get; set; } = CurrentVersion;

    /// <summary>"i/n" (ready, snapshot, report).</summary>
    public string? Shard { get; set; }

    /// <summary>The plan's hash (ready): <see cref="LoadPlanFile.Hash"/>.</summary>
    public string? PlanHash { get; set; }

    /// <summary>The start of the run, Unix milliseconds (start).</summary>
    public long? StartAtMs { get; set; }

    /// <summary>The coordinator's clock when it sent the start, Unix milliseconds: a shard warns of a skewed clock.</summary>
    public long? NowMs { get; set; }

    /// <summary>Why (refused, abort, error).</summary>
    public string? Reason { get; set; }

    /// <summary>The last whole interval of the shard (snapshot).</summary>
    public LoadInterval? Interval { get; set; }

    /// <summary>The shard's counters since the start (snapshot).</summary>
    public LoadCounters? Totals { get; set; }

    /// <summary>The shard's failures by reason since the start (snapshot).</summary>
    public SortedDictionary<string, long>? Failures { get; set; }

    /// <summary>The shard's final report (report).</summary>
    public LoadReport? Result { get; set; }
}

/// <summary>Input that breaks the shard protocol: a frame too long, or one that is not a message.</summary>
public sealed class ShardProtocolException(string message) : Exception(message);

/// <summary>The framing of <see cref="ShardMessage"/>: length-prefixed JSON with a size limit.</summary>
public static class ShardFrames
{
    /// <summary>The largest frame before a shard is ready (a hello is a few hundred bytes).</summary>
    public const int MaxHello = 64 * 1024;

    /// <summary>The largest frame: a final report with an hour of one-second intervals fits with room.</summary>
    public const int MaxFrame = 32 * 1024 * 1024;

    public static async Task WriteAsync(Stream stream, ShardMessage message, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(message, ShardJsonContext.Default.ShardMessage);
        var frame = new byte[4 + json.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, json.Length);
        json.CopyTo(frame, 4);
        await stream.WriteAsync(frame, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    /// <summary>The next message; null at a clean end of stream (between frames).</summary>
    public static async Task<ShardMessage?> ReadAsync(Stream stream, int maxLength, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        var got = await stream.ReadAtLeastAsync(header, 4, throwOnEndOfStream: false, cancellationToken);
        if (got == 0)
        {
            return null;
        }

        if (got < 4)
        {
            throw new ShardProtocolException("the connection ended inside a frame's length");
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length <= 0 || length > maxLength)
        {
            throw new ShardProtocolException($"a frame of {length} bytes (at most {maxLength})");
        }

        var body = new byte[length];
        if (await stream.ReadAtLeastAsync(body, length, throwOnEndOfStream: false, cancellationToken) < length)
        {
            throw new ShardProtocolException("the connection ended inside a frame");
        }

        ShardMessage? message;
        try
        {
            message = JsonSerializer.Deserialize(body, ShardJsonContext.Default.ShardMessage);
        }
        catch (JsonException e)
        {
            throw new ShardProtocolException($"a frame that is not a message: {e.Message}");
        }

        if (message is null || string.IsNullOrEmpty(message.Type))
        {
            throw new ShardProtocolException("a message without a type");
        }

        return message;
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ShardMessage))]
internal sealed partial class ShardJsonContext : JsonSerializerContext;
