using System.CommandLine;
using CucmSim.Cli;

namespace CucmSim.Serve.AdminWeb;

/// <summary>The serve command's admin web options, each declared once with what it sets in <see cref="AdminWebOptions"/>.</summary>
internal static class AdminWebCli
{
    public static void Declare(Declared<AdminWebOptions> o)
    {
        var d = new AdminWebOptions();
        o.Add(new Option<Credentials>("--axl-user") { HelpName = "USER:PW", Description = $"AXL user for HTTP basic auth on POST /axl/ (default {d.User}:{d.Password})" }.LastWins<Credentials>(Credentials.Read),
            (s, v) => s with { User = v.User, Password = v.Password });
        o.Add(new Option<int>("--axl-max-body") { HelpName = "BYTES", Description = "largest admin web request body accepted; larger gets 413", DefaultValueFactory = _ => d.MaxBodyBytes }.Whole(1024, 64 * 1024 * 1024),
            (s, v) => s with { MaxBodyBytes = v });
    }
}

/// <summary>USER:PASSWORD as given on the command line, split at the first colon (the password may hold more).</summary>
internal readonly record struct Credentials(string User, string Password)
{
    public static string? Read(string text, out Credentials value)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        value = colon <= 0 ? new(text, string.Empty) : new(text[..colon], text[(colon + 1)..]);
        return colon <= 0 ? "write USER:PASSWORD" : null;
    }
}
