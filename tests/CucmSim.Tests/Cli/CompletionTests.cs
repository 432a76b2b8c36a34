using CucmSim.Catalog;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Cli;

/// <summary>
/// Completion in real shells. bash: the script 'cucmsim completion bash' prints is sourced, and the function it registers
/// for cucmsim is called as bash calls it on TAB (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD), with a cucmsim on
/// the PATH that runs the build under test.
/// </summary>
public sealed class CompletionTests
{
    private const string Driver = """
        set -eu
        export PATH="$1:$PATH"
        source <(cucmsim completion bash)
        spec=$(complete -p cucmsim)
        fn=${spec##*-F }
        fn=${fn%% *}
        shift
        for COMP_LINE in "$@"; do
            COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<<"$COMP_LINE"
            if [[ "$COMP_LINE" == *" " ]]; then COMP_WORDS+=(""); fi
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            COMPREPLY=()
            "$fn" cucmsim "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '[%s]\n' "$COMP_LINE"
            printf '%s\n' "${COMPREPLY[@]}"
        done
        """;

    [Fact]
    public async Task Bash_completes_commands_options_and_the_profiles_roles_and_flows()
    {
        var bin = await WrapperAsync();
        string[] lines =
        [
            "cucmsim se", "cucmsim serve --ro", "cucmsim serve --role ", "cucmsim serve --role ph", "cucmsim serve --only t6.sc",
            "cucmsim serve --except 6,t6.si", "cucmsim serve --io ", "cucmsim probe 10.0.0.5 --target-role ", "cucmsim profiles ",
        ];
        var run = await ExternalTool.RunAsync("bash", ["-c", Driver, "bash", bin, .. lines], TimeSpan.FromSeconds(90)).DefaultTimeout(TimeSpan.FromSeconds(100));
        Assert.True(run.ExitCode == 0, run.All);
        var replies = new Dictionary<string, List<string>>();
        List<string>? current = null;
        foreach (var line in run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                replies[line[1..^1]] = current = [];
            }
            else
            {
                current!.Add(line);
            }
        }

        var profile = ProfileLoader.Load(ProfileLoader.DefaultProfile);
        var listening = profile.Roles.Keys.Where(r => profile.Flows.Any(f => f.To == r && f.IsBindable)).Order(StringComparer.Ordinal).ToList();
        Assert.Contains("cucm", listening);
        Assert.Equal(["serve"], replies["cucmsim se"]);
        Assert.Equal(["--role"], replies["cucmsim serve --ro"]);
        Assert.Equal(listening, replies["cucmsim serve --role "]);
        Assert.Equal(listening.Where(r => r.StartsWith("ph", StringComparison.Ordinal)), replies["cucmsim serve --role ph"]);
        Assert.Equal(profile.Flows.Select(f => f.Id).Where(id => id.StartsWith("t6.sc", StringComparison.Ordinal)).Order(StringComparer.Ordinal),
            replies["cucmsim serve --only t6.sc"].Order(StringComparer.Ordinal));
        Assert.Contains("6,t6.sip", replies["cucmsim serve --except 6,t6.si"]);
        Assert.All(replies["cucmsim serve --except 6,t6.si"], r => Assert.StartsWith("6,t6.si", r, StringComparison.Ordinal));
        Assert.Equal(["inline", "pool"], replies["cucmsim serve --io "]);
        Assert.Equal(listening, replies["cucmsim probe 10.0.0.5 --target-role "]);
        Assert.Equal(["--help", "-h", "list", "show", "validate"], replies["cucmsim profiles "].Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// An interactive zsh on a pseudo-terminal (zpty) with compinit and the script loaded: each line is typed with a
    /// TAB, then a key bound to a widget that writes the edited line into a FIFO the driver reads.
    /// </summary>
    private const string ZshDriver = """
        zmodload zsh/zpty
        bin=$1 fifo=$2
        shift 2
        exec {answers}<>$fifo
        zpty -b z "PATH='$bin':\$PATH zsh -f -i"
        zpty -w z "autoload -Uz compinit && compinit -u -D && source <(cucmsim completion zsh)"
        zpty -w z 'dump() { print -r -- "$BUFFER" > '"$fifo"'; BUFFER=; }; zle -N dump; bindkey "^X" dump'
        for line in "$@"; do
            zpty -w -n z "$line"$'\t'$'\x18'
            read -t 60 -u $answers result || { print "no answer for [$line]"; exit 1 }
            print -r -- "$result"
        done
        zpty -d z
        """;

    [Fact]
    public async Task Zsh_completes_options_and_values_on_tab()
    {
        var bin = await WrapperAsync();
        var fifo = Path.Combine(bin, "answers");
        Assert.Equal(0, (await ExternalTool.RunAsync("mkfifo", [fifo]).DefaultTimeout()).ExitCode);
        string[] lines = ["cucmsim serve --ro", "cucmsim serve --role ph", "cucmsim serve --io po", "cucmsim serve --only t6.sccp-t", "cucmsim comp"];
        var run = await ExternalTool.RunAsync("zsh", ["-f", "-c", ZshDriver, "zsh", bin, fifo, .. lines], TimeSpan.FromSeconds(90)).DefaultTimeout(TimeSpan.FromSeconds(100));
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Equal(["cucmsim serve --role", "cucmsim serve --role phone", "cucmsim serve --io pool", "cucmsim serve --only t6.sccp-tls", "cucmsim completion"],
            run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>A directory with a 'cucmsim' that runs the build under test, to put first on the PATH.</summary>
    private static async Task<string> WrapperAsync()
    {
        var bin = SimHost.TempDirectory();
        var cucmsim = Path.Combine(bin, "cucmsim");
        await File.WriteAllTextAsync(cucmsim, $"#!/bin/sh\nexec dotnet '{CucmSimProcess.DllPath}' \"$@\"\n").DefaultTimeout();
        File.SetUnixFileMode(cucmsim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    [Fact]
    public async Task The_suggest_directive_prints_the_completions_of_a_line_one_a_line()
    {
        var run = await ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "[suggest:10]", "cucmsim co"]).DefaultTimeout(TimeSpan.FromSeconds(70));
        Assert.Equal((0, "completion\n"), (run.ExitCode, run.Stdout));

        run = await ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "[suggest:29]", "cucmsim serve --tftp-config s"]).DefaultTimeout(TimeSpan.FromSeconds(70));
        Assert.Equal((0, "sccp\nsip\n"), (run.ExitCode, run.Stdout));
    }
}
