using CucmSim.Cli;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Catalog;

public sealed class ProfilesCommandTests
{
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await CliMain.RunAsync(args, output, error).DefaultTimeout();
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task List_show_and_validate_print_tables()
    {
        var (code, list, _) = await RunAsync("profiles", "list");
        Assert.Equal(0, code);
        Assert.Contains("cucm", list);
        Assert.Contains("1,2,3,4,5,6,7,8,9,10,11", list);

        (code, var show, _) = await RunAsync("profiles", "show", "cucm", "--notes");
        Assert.Equal(0, code);
        Assert.Contains("t6.sccp", show);
        Assert.Contains("69,6969 then ephemeral", show);
        Assert.Contains("notes (the guide's oddities):", show);
        Assert.Matches(@"cucm\s+107\s+19\s+8189 \(24576-25374,25377-25392,25394-32767\)", show);
        Assert.Contains("leaves out 25375, 25376, 25393", show);

        var lab = SimHost.WriteProfile("""{ "name": "lab", "extends": "cucm", "select": { "tables": [6] } }""");
        (code, var ok, _) = await RunAsync("profiles", "validate", lab, "--role", "cucm");
        Assert.Equal(0, code);
        Assert.Contains("ok: profile 'lab'", ok);
    }

    [Fact]
    public async Task Validate_prints_every_problem_with_file_and_line_and_exits_1()
    {
        var bad = SimHost.WriteProfile("""
            {
              "name": "bad",
              "extends": "cucm",
              "override": { "t6.sccp": { "ports": "0" }, "t6.nope": { "ports": "1" } }
            }
            """);
        var (code, _, error) = await RunAsync("profiles", "validate", bad);
        Assert.Equal(1, code);
        Assert.Contains($"{bad}:4: override of 't6.sccp': port 0 is out of range", error);
        Assert.Contains($"{bad}:4: override: unknown flow 't6.nope'", error);
        Assert.Contains("2 problem(s)", error);
    }

    [Fact]
    public async Task Usage_errors_are_listed_with_exit_1_and_every_verb_has_its_help()
    {
        var (code, _, error) = await RunAsync("profiles", "show");
        Assert.Equal(1, code);
        Assert.Contains("Required argument missing for command: 'show'", error);

        (code, _, error) = await RunAsync("profiles", "validate", "x.json", "--wide", "--bogus");
        Assert.Equal(1, code);
        Assert.Contains("unknown option --wide", error);
        Assert.Contains("unknown option --bogus", error);

        (code, var help, _) = await RunAsync("profiles", "show", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--notes", help);

        (code, help, _) = await RunAsync("profiles");
        Assert.Equal(1, code);
        Assert.Contains("validate", help);
    }
}
