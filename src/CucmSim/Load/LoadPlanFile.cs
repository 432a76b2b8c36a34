using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CucmSim.Load;

/// <summary>
/// A load plan as a JSON file (<c>--plan FILE</c>), read by every shard: on Kubernetes it is the ConfigMap's file. Its
/// members are the plan options without the dashes, in camelCase (<c>"phones": 2000, "registerRate": 200</c>); times
/// are seconds; every member may be left out. An option given on the command line wins over the file's member.
/// Unknown members are an error, so a misspelt one is not silently ignored.
/// </summary>
public sealed class LoadPlanFile
{
    /// <summary>The largest plan file read: a plan is a few hundred bytes, a list of sources some more.</summary>
    public const int MaxBytes = 4 * 1024 * 1024;

    public string? Target { get; set; }

    public int? Phones { get; set; }

    /// <summary>sccp, sip, sip-tcp, sip-tls or mixed.</summary>
    public string? Protocol { get; set; }

    /// <summary>As <c>--sources</c>: addresses and networks, comma-separated.</summary>
    public string? Sources { get; set; }

    public double? RegisterRate { get; set; }

    public double? Cps { get; set; }

    public double? Hold { get; set; }

    public double? Duration { get; set; }

    public long? Calls { get; set; }

    public double? RampUp { get; set; }

    public double? RampDown { get; set; }

    /// <summary>server or phone (phone to phone), as --mode.</summary>
    public string? Mode { get; set; }

    /// <summary>As --callers: only phones 0..callers-1 call (phone to phone).</summary>
    public int? Callers { get; set; }

    public bool? Media { get; set; }

    /// <summary>As --max-pending: registrations in flight at most in each process (0: no cap).</summary>
    public int? MaxPending { get; set; }

    public int? Seed { get; set; }

    public long? DirectoryNumberBase { get; set; }

    public string? ServerNumber { get; set; }

    /// <summary>The first MAC address, 12 hex digits.</summary>
    public string? MacBase { get; set; }

    /// <summary>Reads and checks a plan file; null with the reason when it cannot be used.</summary>
    public static LoadPlanFile? Read(string path, out string? error)
    {
        error = null;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                error = $"--plan {path}: no such file";
                return null;
            }

            if (info.Length > MaxBytes)
            {
                error = $"--plan {path}: {info.Length} bytes; a plan file has at most {MaxBytes}";
                return null;
            }

            return Parse(File.ReadAllText(path), out error, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"--plan {path}: {e.Message}";
            return null;
        }
    }

    public static LoadPlanFile? Parse(string json, out string? error, string name = "plan")
    {
        error = null;
        LoadPlanFile? file;
        try
        {
            file = JsonSerializer.Deserialize(json, LoadPlanFileJsonContext.Default.LoadPlanFile);
        }
        catch (JsonException e)
        {
            error = $"--plan {name}: {e.Message}";
            return null;
        }

        if (file is null)
        {
            error = $"--plan {name}: not a JSON object";
            return null;
        }

        error = file.Check();
        return error is null ? file : null;
    }

    /// <summary>The plan file of <paramref name="plan"/>: every member written (sources as a list of addresses).</summary>
    public static LoadPlanFile From(LoadPlan plan) => new()
    {
        Target = plan.Target.ToString(),
        Phones = plan.Phones,
        Protocol = LoadPlan.Name(plan.Protocol),
        Sources = plan.Sources.Count == 0 ? null : string.Join(",", plan.Sources),
        RegisterRate = plan.RegisterRate,
        Cps = plan.CallsPerSecond,
        Hold = plan.Hold.TotalSeconds,
        Duration = plan.Duration?.TotalSeconds,
        Calls = plan.Calls,
        RampUp = plan.RampUp.TotalSeconds,
        RampDown = plan.RampDown.TotalSeconds,
        Mode = ModeName(plan.Mode),
        Callers = plan.Callers,
        Media = plan.Media,

        // Left out at its default, so that a plan written before the member existed keeps its hash.
        MaxPending = plan.MaxPending == LoadPlan.DefaultMaxPending ? null : plan.MaxPending,
        Seed = plan.Seed,
        DirectoryNumberBase = plan.DirectoryNumberBase,
        ServerNumber = plan.ServerNumber,
        MacBase = plan.MacBase.ToString("X12", CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// The plan's fingerprint: the first 16 hex digits of the SHA-256 of its file form. Shards of one run must have the
    /// same; shard 0 refuses one that does not.
    /// </summary>
    public static string Hash(LoadPlan plan)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(From(plan), LoadPlanFileJsonContext.Default.LoadPlanFile);
        return Convert.ToHexStringLower(SHA256.HashData(json))[..16];
    }

    public static string ModeName(CallMode mode) => mode == CallMode.PhoneToPhone ? "phone" : "server";

    public string ToJson() => JsonSerializer.Serialize(this, LoadPlanFileJsonContext.Default.LoadPlanFile);

    /// <summary>
    /// The plan with this file's members over <paramref name="plan"/>'s, except where <paramref name="givenOnCommandLine"/>
    /// says the option (by its name, such as "--phones") was given on the command line: the command line wins.
    /// <paramref name="target"/> is the file's target resolved (null: keep the plan's).
    /// </summary>
    public LoadPlan Apply(LoadPlan plan, Func<string, bool> givenOnCommandLine, IPAddress? target = null)
    {
        bool Use(string option, bool present) => present && !givenOnCommandLine(option);
        var p = plan;
        if (target is not null && !givenOnCommandLine("TARGET"))
        {
            p = p with { Target = target };
        }

        if (Use("--phones", Phones is not null))
        {
            p = p with { Phones = Phones!.Value };
        }

        if (Use("--protocol", Protocol is not null))
        {
            LoadPlan.TryParseProtocol(Protocol!, out var protocol);
            p = p with { Protocol = protocol };
        }

        if (Use("--sources", Sources is not null))
        {
            p = p with { Sources = LoadPlan.ParseSources(Sources!, out _) };
        }

        if (Use("--register-rate", RegisterRate is not null))
        {
            p = p with { RegisterRate = RegisterRate!.Value };
        }

        if (Use("--cps", Cps is not null))
        {
            p = p with { CallsPerSecond = Cps!.Value };
        }

        if (Use("--hold", Hold is not null))
        {
            p = p with { Hold = TimeSpan.FromSeconds(Hold!.Value) };
        }

        // --duration and --calls exclude each other: either given on the command line replaces both of the file's.
        if (!givenOnCommandLine("--duration") && !givenOnCommandLine("--calls") && (Duration is not null || Calls is not null))
        {
            p = p with { Duration = Duration is { } d ? TimeSpan.FromSeconds(d) : null, Calls = Calls };
        }

        if (Use("--ramp-up", RampUp is not null))
        {
            p = p with { RampUp = TimeSpan.FromSeconds(RampUp!.Value) };
        }

        if (Use("--ramp-down", RampDown is not null))
        {
            p = p with { RampDown = TimeSpan.FromSeconds(RampDown!.Value) };
        }

        if (Use("--mode", Mode is not null))
        {
            p = p with { Mode = Mode == "phone" ? CallMode.PhoneToPhone : CallMode.Server };
        }

        if (Use("--callers", Callers is not null))
        {
            p = p with { Callers = Callers };
        }

        if (Use("--no-media", Media is not null))
        {
            p = p with { Media = Media!.Value };
        }

        if (Use("--max-pending", MaxPending is not null))
        {
            p = p with { MaxPending = MaxPending!.Value };
        }

        if (Use("--seed", Seed is not null))
        {
            p = p with { Seed = Seed!.Value };
        }

        if (DirectoryNumberBase is { } dn)
        {
            p = p with { DirectoryNumberBase = dn };
        }

        if (ServerNumber is { } number && !givenOnCommandLine("--number"))
        {
            p = p with { ServerNumber = number };
        }

        if (MacBase is { } mac)
        {
            p = p with { MacBase = long.Parse(mac, NumberStyles.HexNumber, CultureInfo.InvariantCulture) };
        }

        return p;
    }

    private static bool Seconds(double? value) => value is null || (double.IsFinite(value.Value) && value.Value >= 0 && value.Value <= 7 * 24 * 3600);

    /// <summary>What is wrong with the members, in the words of the options; null when nothing is.</summary>
    private string? Check()
    {
        var problems = new List<string>();
        if (Protocol is not null && !LoadPlan.TryParseProtocol(Protocol, out _))
        {
            problems.Add($"protocol '{Protocol}' is none of sccp, sip, sip-tcp, sip-tls, mixed");
        }

        if (Mode is not null and not ("server" or "phone"))
        {
            problems.Add($"mode '{Mode}' is neither server nor phone");
        }

        if (Callers is < 1)
        {
            problems.Add("callers must be at least 1");
        }

        if (MaxPending is < 0)
        {
            problems.Add("maxPending cannot be negative (0: no cap)");
        }

        if (Sources is not null)
        {
            LoadPlan.ParseSources(Sources, out var error);
            if (error is not null)
            {
                problems.Add("sources: " + error);
            }
        }

        if (!Seconds(Hold) || !Seconds(Duration) || !Seconds(RampUp) || !Seconds(RampDown))
        {
            problems.Add("hold, duration, rampUp and rampDown are seconds, from 0 to a week");
        }

        if (Duration is not null && Calls is not null)
        {
            problems.Add("give one of duration and calls");
        }

        if (MacBase is not null && !(MacBase.Length == 12 && long.TryParse(MacBase, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _)))
        {
            problems.Add($"macBase '{MacBase}' is not 12 hex digits");
        }

        if (Target is not null && Target.Length > 253)
        {
            problems.Add("target is longer than a host name can be");
        }

        return problems.Count == 0 ? null : "--plan: " + string.Join("; ", problems);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(LoadPlanFile))]
internal sealed partial class LoadPlanFileJsonContext : JsonSerializerContext;
