using CucmSim.Cli;

ServeCommand.ConfigureRuntime(args);
return await CliMain.RunAsync(args, Console.Out, Console.Error);
