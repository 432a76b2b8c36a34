using System.Globalization;
using CucmSim.Cli;

namespace CucmSim.Serve.AdminWeb;

/// <summary>The serve command's admin web options (kept here so the command itself only names them).</summary>
internal static class AdminWebCli
{
    public static readonly string[] ValueOptions = ["axl-user", "axl-max-body"];

    public const string Usage = """
  --axl-user USER:PW    AXL user for HTTP basic auth on POST /axl/ (default administrator:cucmsim)
  --axl-max-body BYTES  largest admin web request body accepted (default 1048576); larger gets 413
""";

    public static AdminWebOptions Parse(Args args, List<string> errors)
    {
        var defaults = new AdminWebOptions();
        var options = defaults;
        if (args.Value("axl-user") is { } user)
        {
            var colon = user.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                errors.Add($"--axl-user {user}: write USER:PASSWORD");
            }
            else
            {
                options = options with { User = user[..colon], Password = user[(colon + 1)..] };
            }
        }

        if (args.Value("axl-max-body") is { } text)
        {
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max is >= 1024 and <= 64 * 1024 * 1024)
            {
                options = options with { MaxBodyBytes = max };
            }
            else
            {
                errors.Add($"--axl-max-body {text}: 1024 to 67108864");
            }
        }

        return options;
    }
}
