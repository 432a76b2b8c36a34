using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace CucmSim.Probe;

/// <summary>
/// What the server recorded, keyed by the nonces that probes carry: read from serve's control API
/// (/api/ledger) or from a saved ledger file (JSON Lines). Without it, a probe cannot tell a one-way path from
/// a silent drop.
/// </summary>
public sealed class ServerView
{
    private readonly Dictionary<string, ServerSeen> _byNonce = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ServerSeen> _callbacks = new(StringComparer.Ordinal);

    private ServerView(string source) => Source = source;

    /// <summary>"control http://…", "ledger FILE" or "none".</summary>
    public string Source { get; }

    public bool Available => Source != "none";

    public int Records { get; private set; }

    /// <summary>Listener states from the control API: id → "bound" or "failed: reason".</summary>
    public Dictionary<string, string> Listeners { get; } = new(StringComparer.Ordinal);

    public static ServerView None { get; } = new("none");

    public ServerSeen? Find(IEnumerable<string> nonces)
    {
        foreach (var n in nonces)
        {
            if (_byNonce.TryGetValue(n, out var seen))
            {
                return seen;
            }
        }

        return null;
    }

    /// <summary>The server's record of the delayed answer (--idle) to one of these nonces: kind echo-idle, verdict in Kind's place.</summary>
    public ServerSeen? Callback(IEnumerable<string> nonces)
    {
        foreach (var n in nonces)
        {
            if (_callbacks.TryGetValue(n, out var seen))
            {
                return seen;
            }
        }

        return null;
    }

    private void Add(JsonElement record)
    {
        Records++;
        if (!record.TryGetProperty("nonce", out var nonceElement) || nonceElement.GetString() is not { Length: > 0 } nonce)
        {
            return;
        }

        string? Text(string name) => record.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var seen = new ServerSeen(
            record.TryGetProperty("seq", out var seq) && seq.TryGetInt64(out var s) ? s : 0,
            Text("kind") ?? "?",
            Text("listener"),
            Text("local"),
            Text("peer"),
            nonce,
            record.TryGetProperty("time", out var t) && t.TryGetDateTimeOffset(out var time) ? time : default);

        if (seen.Kind == "echo-idle")
        {
            // The delayed answer (--idle): what the server sent, not a sign that the attempt arrived.
            _callbacks.TryAdd(nonce, seen with { Kind = Text("verdict") ?? "callback" });
            return;
        }

        // The first record of an attempt (tcp-open, udp-flow) is the earliest sign; keep it, a close adds nothing.
        _byNonce.TryAdd(nonce, seen);
    }

    /// <summary>Reads a ledger file, and its rotated predecessors (FILE.1 … FILE.5), oldest first.</summary>
    public static ServerView FromLedgerFile(string path)
    {
        var view = new ServerView("ledger " + path);
        var files = Enumerable.Range(1, 5).Reverse().Select(i => string.Create(CultureInfo.InvariantCulture, $"{path}.{i}")).Where(File.Exists).Append(path);
        foreach (var file in files)
        {
            foreach (var line in File.ReadLines(file))
            {
                if (line.Length == 0)
                {
                    continue;
                }

                try
                {
                    using var doc = JsonDocument.Parse(line);
                    view.Add(doc.RootElement);
                }
                catch (JsonException)
                {
                    // A line cut short by a crash of the server: the rest of the file still counts.
                }
            }
        }

        return view;
    }

    /// <summary>The newest sequence number of the server's ledger, before the run (so only this run's records are read).</summary>
    public static async Task<long> LastSeqAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var doc = await http.GetFromJsonAsync<JsonDocument>("/api/ledger?limit=1&since=" + long.MaxValue.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        return doc!.RootElement.GetProperty("lastSeq").GetInt64();
    }

    /// <summary>Reads the control API's listeners and every ledger record after <paramref name="since"/>.</summary>
    public static async Task<ServerView> FromControlAsync(HttpClient http, long since, IReadOnlyCollection<string> wanted, TimeSpan settle, CancellationToken cancellationToken)
    {
        var view = new ServerView("control " + http.BaseAddress);
        using (var listeners = await http.GetFromJsonAsync<JsonDocument>("/api/listeners", cancellationToken).ConfigureAwait(false))
        {
            foreach (var l in listeners!.RootElement.EnumerateArray())
            {
                var state = l.GetProperty("state").GetString() ?? "?";
                if (l.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String)
                {
                    state += ": " + e.GetString();
                }

                view.Listeners[l.GetProperty("id").GetString()!] = state;
            }
        }

        // Records of answered attempts may trail the answers a little (a TCP connection is recorded when it closes):
        // read until every wanted nonce is there, or the settle time is over.
        var deadline = TimeProvider.System.GetTimestamp() + (long)(settle.TotalSeconds * TimeProvider.System.TimestampFrequency);
        while (true)
        {
            while (true)
            {
                using var page = await http.GetFromJsonAsync<JsonDocument>(string.Create(CultureInfo.InvariantCulture, $"/api/ledger?since={since}&limit=10000"), cancellationToken).ConfigureAwait(false);
                var records = page!.RootElement.GetProperty("records");
                if (records.GetArrayLength() == 0)
                {
                    break;
                }

                foreach (var r in records.EnumerateArray())
                {
                    view.Add(r);
                    since = Math.Max(since, r.GetProperty("seq").GetInt64());
                }
            }

            if (wanted.All(view._byNonce.ContainsKey) || TimeProvider.System.GetTimestamp() >= deadline)
            {
                return view;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }
    }
}
