using Pfa.Tool.Cli;

// A progress line with an ETA only on an interactive terminal; redirected output stays line by line.
return PfaCli.Run(args, new StandardOutput(Console.Out), Console.Error, TerminalProgress.IsTerminal() ? new TerminalProgress(Console.Error) : null);
