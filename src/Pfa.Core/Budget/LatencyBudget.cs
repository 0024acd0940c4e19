namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>latency</c>: where the compressed model will serve — <c>{ "batch": 64, "threads": 4, "runtime":
/// "onnx" }</c>. compress measures the original and the compressed model at batch 1 and at this batch, and warns
/// (PFA2004, PFA2005) when the compressed one is slower than the original or than its MACs promise, in this runtime.
/// </summary>
public sealed record LatencyBudget
{
    public const string LibTorch = "libtorch", Onnx = "onnx";

    /// <summary>The serving batch (1 to 65536).</summary>
    public int Batch { get; init; } = 1;
    /// <summary>Intra-op threads of the measurement; null: the runtime's default.</summary>
    public int? Threads { get; init; }
    /// <summary>libtorch (TorchSharp, what the tool trains with) or onnx (ONNX Runtime's CPU provider on model.onnx).</summary>
    public string Runtime { get; init; } = LibTorch;
}
