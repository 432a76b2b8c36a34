using CucmSim.Cli;

return await CliMain.RunAsync(args, Console.Out, Console.Error);
