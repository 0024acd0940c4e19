using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>The scalars the statistics pass to libtorch outlive dispose scopes and garbage collections.</summary>
public class KeptScalarsTests
{
    [Fact]
    public void The_kept_scalar_survives_scopes_and_collections()
    {
        for (int round = 0; round < 3; round++)
        {
            using (var scope = NewDisposeScope())
            {
                var a = zeros(4, dtype: ScalarType.Float64);
                a.add_(ones(4, dtype: ScalarType.Float64), KeptScalars.One);
                Assert.Equal(4.0, a.sum().item<double>());
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(1.0, KeptScalars.One.ToDouble());
    }
}
