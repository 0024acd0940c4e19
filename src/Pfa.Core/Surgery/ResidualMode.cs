namespace Pfa.Core.Surgery;

/// <summary>
/// How channels are pruned through a residual sum (pfa.json <c>"residual"</c>; PFA appendix C). Only models with
/// an <c>add</c> are affected.
/// </summary>
public enum ResidualMode
{
    /// <summary>C.3: every layer writing into one sum (the stem or projection conv, each block's last conv of a
    /// stage) shares one channel group; PFA analyses the sums' outputs and one kept set shrinks all of them and
    /// the trunk. The compressed model is a plain, narrower ResNet.</summary>
    Projection,
    /// <summary>C.2: the trunk keeps its width; every conv (a block's inner and last convs, the stem, projections)
    /// shrinks on its own, and a shrunk input of a sum is scattered back to the trunk's positions with zeros
    /// (<c>channel_scatter</c>) before the addition.</summary>
    Padding,
}

public static class ResidualModes
{
    public static readonly IReadOnlyList<string> Names = ["projection", "padding"];
    public static ResidualMode Parse(string? name) => name == "padding" ? ResidualMode.Padding : ResidualMode.Projection;
    public static string Name(ResidualMode mode) => mode == ResidualMode.Padding ? "padding" : "projection";
}
