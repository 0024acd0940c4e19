using Pfa.Core.Model;

namespace Pfa.Core.Data;

/// <summary>
/// A description's input normalisation, (x − mean) / std per channel of an image (one value for every element of
/// a vector), on pixels already in [0, 1]: what <see cref="Dataset"/> applies and what the ONNX export folds in.
/// </summary>
public static class Normalizer
{
    /// <summary>Channels the normalisation is per: an image's channels, else one.</summary>
    public static int Channels(int[] sampleShape) => sampleShape.Length == 3 ? sampleShape[0] : 1;

    /// <summary>One value per channel: none → the fallback (mean 0, std 1), one → for every channel.</summary>
    public static float[] Expand(List<double>? values, int channels, double fallback) =>
        Enumerable.Range(0, channels).Select(c => (float)(values is null || values.Count == 0 ? fallback : values.Count == 1 ? values[0] : values[c])).ToArray();

    /// <summary>A normalised copy of a batch of samples (row-major, <paramref name="sampleShape"/> each).</summary>
    public static float[] Apply(float[] pixels, int[] sampleShape, Normalization? n)
    {
        int channels = Channels(sampleShape);
        var mean = Expand(n?.Mean, channels, 0);
        var std = Expand(n?.Std, channels, 1);
        int elements = sampleShape.Aggregate(1, (a, b) => a * b), perChannel = elements / channels;
        var result = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            int c = i % elements / perChannel;
            result[i] = (pixels[i] - mean[c]) / std[c];
        }
        return result;
    }
}
