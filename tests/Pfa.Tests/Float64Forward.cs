using Pfa.Core.Model;

namespace Pfa.Tests;

/// <summary>
/// The float64 oracle that libtorch's float32 results are checked against, for a model as it is (nothing
/// zeroed): <see cref="Float64Graph"/>, an independent forward pass written from the layers' definitions.
/// </summary>
public static class Float64Forward
{
    /// <param name="x">Samples [n, C, H, W] flattened, row-major.</param>
    /// <param name="weights">State-dict tensors as float arrays, by key.</param>
    public static double[] Run(ModelDescription d, IReadOnlyDictionary<string, float[]> weights, double[] x, int n) => Float64Graph.Run(d, weights, x, n);
}
