using System.Text;
using System.Text.Json;

namespace CucmSim.Catalog;

/// <summary>
/// A small JSON tree that remembers the line of every value, so profile errors can name file and line.
/// Comments and trailing commas are allowed (profiles are hand-written). Input size and depth are capped.
/// </summary>
internal sealed class JsonNode
{
    public const int MaxBytes = 4 * 1024 * 1024;
    public const int MaxDepth = 16;

    public JsonValueKind Kind { get; private init; }
    public int Line { get; private init; }
    public string? String { get; private init; }
    public double Number { get; private init; }
    public bool Bool { get; private init; }
    public List<KeyValuePair<string, JsonNode>>? Properties { get; private init; }
    public List<KeyValuePair<string, int>>? PropertyLines { get; private init; }
    public List<JsonNode>? Items { get; private init; }

    public bool IsInteger => Kind == JsonValueKind.Number && Number == Math.Floor(Number) && Math.Abs(Number) < int.MaxValue;

    public JsonNode? this[string name] => Properties?.FirstOrDefault(p => p.Key == name).Value;

    public string Describe() => Kind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    /// <summary>Parses UTF-8 JSON; on a syntax error returns null and sets <paramref name="error"/> with its line.</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> utf8, out string? error, out int errorLine)
    {
        error = null;
        errorLine = 0;
        if (utf8.Length > MaxBytes)
        {
            error = $"file is larger than {MaxBytes / (1024 * 1024)} MiB";
            errorLine = 1;
            return null;
        }

        if (utf8.StartsWith("\xEF\xBB\xBF"u8))
        {
            utf8 = utf8[3..];
        }

        var lineStarts = new List<int> { 0 };
        for (var i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == (byte)'\n')
            {
                lineStarts.Add(i + 1);
            }
        }

        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            MaxDepth = MaxDepth,
        });

        try
        {
            if (!reader.Read())
            {
                error = "the file is empty";
                errorLine = 1;
                return null;
            }

            var root = ReadValue(ref reader, lineStarts);
            if (reader.Read())
            {
                error = "unexpected content after the top-level value";
                errorLine = LineOf(lineStarts, reader.TokenStartIndex);
                return null;
            }

            return root;
        }
        catch (JsonException ex)
        {
            error = ex.Message.Split(" LineNumber:")[0].Split(" Path:")[0].TrimEnd('.', ' ') ;
            errorLine = (int)(ex.LineNumber ?? 0) + 1;
            return null;
        }
    }

    private static int LineOf(List<int> lineStarts, long offset)
    {
        var index = lineStarts.BinarySearch((int)offset);
        return (index >= 0 ? index : ~index - 1) + 1;
    }

    private static JsonNode ReadValue(ref Utf8JsonReader reader, List<int> lineStarts)
    {
        var line = LineOf(lineStarts, reader.TokenStartIndex);
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                var properties = new List<KeyValuePair<string, JsonNode>>();
                var propertyLines = new List<KeyValuePair<string, int>>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var name = reader.GetString() ?? string.Empty;
                    var nameLine = LineOf(lineStarts, reader.TokenStartIndex);
                    reader.Read();
                    properties.Add(new(name, ReadValue(ref reader, lineStarts)));
                    propertyLines.Add(new(name, nameLine));
                }

                return new JsonNode { Kind = JsonValueKind.Object, Line = line, Properties = properties, PropertyLines = propertyLines };
            case JsonTokenType.StartArray:
                var items = new List<JsonNode>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    items.Add(ReadValue(ref reader, lineStarts));
                }

                return new JsonNode { Kind = JsonValueKind.Array, Line = line, Items = items };
            case JsonTokenType.String:
                return new JsonNode { Kind = JsonValueKind.String, Line = line, String = reader.GetString() };
            case JsonTokenType.Number:
                return new JsonNode { Kind = JsonValueKind.Number, Line = line, Number = reader.GetDouble() };
            case JsonTokenType.True:
                return new JsonNode { Kind = JsonValueKind.True, Line = line, Bool = true };
            case JsonTokenType.False:
                return new JsonNode { Kind = JsonValueKind.False, Line = line, Bool = false };
            default:
                return new JsonNode { Kind = JsonValueKind.Null, Line = line };
        }
    }

    public static JsonNode? Parse(string text, out string? error, out int errorLine) =>
        Parse(Encoding.UTF8.GetBytes(text), out error, out errorLine);
}
