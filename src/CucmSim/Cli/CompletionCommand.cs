using System.CommandLine;

namespace CucmSim.Cli;

/// <summary>
/// cucmsim completion bash|zsh|pwsh: prints a script that has the shell ask cucmsim itself what may come next,
/// through System.CommandLine's suggest directive: <c>cucmsim "[suggest:N]" "LINE"</c> prints the completions of
/// LINE with the cursor at N, one a line (options, subcommands, the roles and flows of the profile).
/// </summary>
internal static class CompletionCommand
{
    public const string Bash = """
        # bash completion for cucmsim: source <(cucmsim completion bash)
        _cucmsim_complete()
        {
            local line="${COMP_LINE:0:COMP_POINT}" word="${COMP_WORDS[COMP_CWORD]}" item
            COMPREPLY=()
            while IFS= read -r item; do
                [[ -n "$item" && "$item" == "$word"* ]] && COMPREPLY+=("$item")
            done < <("${COMP_WORDS[0]}" "[suggest:${#line}]" "$line" 2>/dev/null)
        }
        complete -o default -F _cucmsim_complete cucmsim

        """;

    public const string Zsh = """
        #compdef cucmsim
        # zsh completion for cucmsim: source <(cucmsim completion zsh)
        _cucmsim() {
            local line="${(j: :)words[1,CURRENT-1]} $PREFIX"
            local -a items
            items=(${(f)"$(${words[1]} "[suggest:${#line}]" "$line" 2>/dev/null)"})
            if (( ${#items} )); then
                compadd -Q -- $items
            else
                _files
            fi
        }
        compdef _cucmsim cucmsim

        """;

    public const string Pwsh = """
        # PowerShell completion for cucmsim: cucmsim completion pwsh | Out-String | Invoke-Expression
        Register-ArgumentCompleter -Native -CommandName cucmsim -ScriptBlock {
            param($wordToComplete, $commandAst, $cursorPosition)
            $line = $commandAst.ToString()
            $position = $cursorPosition - $commandAst.Extent.StartOffset
            $line = $line.PadRight($position).Substring(0, $position)
            & $commandAst.GetCommandName() "[suggest:$position]" $line 2>$null | ForEach-Object {
                [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
            }
        }

        """;

    /// <summary>What completion --help says after the arguments.</summary>
    public const string Details = """
        Load it in every new shell:
          bash  add to ~/.bashrc:  source <(cucmsim completion bash)
          zsh   add to ~/.zshrc after compinit:  source <(cucmsim completion zsh)
          pwsh  add to $PROFILE:  cucmsim completion pwsh | Out-String | Invoke-Expression
        """;

    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh or pwsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh", "pwsh");
        var command = new Command("completion", "print a script that completes cucmsim's commands, options and values in a shell") { shell };
        command.Action = new CommandAction((parsed, _) =>
        {
            if (CliMain.Usage(parsed, "cucmsim completion", parsed.InvocationConfiguration.Error))
            {
                return Task.FromResult(1);
            }

            parsed.InvocationConfiguration.Output.Write(parsed.GetValue(shell) switch
            {
                "bash" => Bash,
                "zsh" => Zsh,
                _ => Pwsh,
            });
            return Task.FromResult(0);
        });
        return command;
    }
}
