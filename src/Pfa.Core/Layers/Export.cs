using Pfa.Core.Json;

namespace Pfa.Core.Layers;

/// <summary>Helpers for <see cref="LayerRule.Describe"/>: TorchSharp's size arrays as description pairs.</summary>
public static class Export
{
    /// <summary>[k] or [h, w] as a pair; an absent array is the fallback.</summary>
    public static IntPair Pair(long[]? v, int fallback) => v is null || v.Length == 0 ? fallback : v.Length == 1 ? (int)v[0] : new IntPair((int)v[0], (int)v[1]);

    /// <summary>Null when the value is the default (the description leaves defaults out).</summary>
    public static IntPair? Optional(IntPair v, int dflt) => v.H == dflt && v.W == dflt ? null : v;
}
