using Pfa.Core.Native;
using Pfa.Tool.Cli;

// Before any tensor: libtorch's GEMMs give the same bits at any thread count.
GemmReproducibility.Configure();
// Large buffers stay on the heap: no page faults on every convolution (3x at batch 64).
NativeHeap.Ensure();

// A progress line with an ETA only on an interactive terminal; redirected output stays line by line.
return PfaCli.Run(args, new StandardOutput(Console.Out), Console.Error, TerminalProgress.IsTerminal() ? new TerminalProgress(Console.Error) : null);
