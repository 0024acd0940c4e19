return Pfa.Tool.Cli.PfaCli.Run(args, Console.Out, Console.Error);
