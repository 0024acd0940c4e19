// Pfa.Bench: speed/memory ratios (`perf`) and the Fashion-MNIST quality table (`quality`).
// Ratios are measured within one run, so a noisy shared machine affects both sides alike.
using Pfa.Bench;
using Pfa.Core.Native;

GemmReproducibility.Configure();   // before any tensor: thread-count-independent GEMMs, as in the tool
NativeHeap.Ensure();               // large buffers stay on the heap, as in the tool

var mode = args.FirstOrDefault() ?? "perf";
var rest = args.Skip(1).ToArray();
return mode switch
{
    "perf" => PerfBench.Run(rest),
    "analyze-memory" => PerfBench.AnalyzeMemoryChild(rest),
    "quality" => QualityBench.Run(rest),
    "cpu" => CpuBench.Run(rest),
    "garg" => GargBench.Run(rest),
    "residual" => ResidualBench.Run(rest),
    "domain" => DomainBench.Run(rest),
    "latency" => LatencyBench.Run(rest),
    "selection" => SelectionStudy.Run(rest),
    "proxy" => ProxyStudy.Run(rest),
    "depth" => DepthStudy.Run(rest),
    "scaling" => WidthScalingStudy.Run(rest),
    "recalibration" => RecalibrationStudy.Run(rest),
    "heap" => HeapBench.Run(rest),
    "heap-child" => HeapBench.RunChild(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Pfa.Bench perf [--out bench/results/perf.md] | quality [--out bench/results/quality.md] [--epochs N] [--finetune-epochs N] [--finetune-samples N] [--seeds N] [--options a,b] [--targets 50p,30p,18p,50m,25m] [--latency-only | --report-only] | cpu [--out bench/results/cpu.md] | garg [--out bench/results/garg.md] [--epochs N] [--samples N] [--seeds N] | residual [--out bench/results/residual.md] [--models a,b] [--epochs N] [--finetune-epochs N] [--finetune-samples N] [--analysis-samples N] [--seeds N] [--latency-only | --report-only] | domain [--out bench/results/domain.md] [--model-dir bench/work] [--seeds N] [--limit N] [--finetune-epochs N] [--report-only] | latency [--out bench/results/latency.md] [--models a,b] [--batches 1,64] [--targets 0.5,0.3] [--seeds N] [--repetitions N] [--report-only] | selection [--out bench/results/selection-study.md] [--models a,b] [--targets 0.5,0.3] [--exponents 0.5,0.25] [--seeds N] [--report-only] | proxy [--out bench/results/proxy-study.md] [--models a,b] [--proxies cosine60,constant120] [--report-only] | depth [--out bench/results/depth-study.md] [--models a,b] [--repetitions N] [--report-only] | scaling [--out bench/results/width-scaling.md] [--models a,b] [--target 0.3] [--repetitions N] | heap [--out bench/results/heap.md] [--repetitions N]");
    return 2;
}
