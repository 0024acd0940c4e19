using Pfa.Core.Model;

namespace Pfa.Core.Model.Blocks;

/// <summary>
/// A TorchSharp module that is not a plain chain of layers (a residual block) and says which description layers
/// compute exactly what its <c>forward</c> computes. <see cref="SequentialExporter"/> splices those layers in where
/// the module sits in a Sequential, so a ResNet built from such blocks exports in one call. Implement it on your
/// own block to export it; <see cref="BasicBlock"/>, <see cref="Bottleneck"/> and <see cref="InvertedResidual"/> are
/// the shipped ones.
/// </summary>
public interface IPfaBlock
{
    /// <summary>The block's layers, in order, named <c>prefix.child</c> after the block's own submodules (so its
    /// state_dict keys are theirs), the first reading <paramref name="input"/> (a layer name or "input"); the last
    /// layer is the block's output. <paramref name="describe"/> describes one leaf module (conv, batch norm, …).</summary>
    IEnumerable<LayerSpec> Describe(string prefix, string input, Func<string, TorchSharp.torch.nn.Module, LayerSpec> describe);
}

/// <summary>How a block's input reaches its sum when the block changes the width or the resolution.</summary>
public enum Shortcut
{
    /// <summary>A 1×1 conv (stride s) and a batch norm: torchvision's <c>downsample</c> (He et al. option B).</summary>
    Projection,
    /// <summary>Parameter-free: every second position, zero channels added on both sides (He et al. option A, the
    /// CIFAR ResNets): a 1×1 max pool of stride s, then <c>channel_pad</c>.</summary>
    Padding,
}
