using CucmSim.Cli;

var cli = new CliMain();
var parsed = cli.Parse(args);
ServeCommand.ConfigureRuntime(parsed, cli.Serve);
return await CliMain.InvokeAsync(parsed, Console.Out, Console.Error);
