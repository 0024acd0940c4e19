using System.Runtime.InteropServices;

namespace Pfa.Core.Native;

/// <summary>How libtorch computes convolutions in this process.</summary>
public enum ConvolutionPath
{
    /// <summary>libtorch's default: oneDNN (mkldnn) kernels, blocked 16-channel layouts on AVX-512.</summary>
    OneDnn,
    /// <summary>oneDNN off: libtorch's own (slower) kernels. The fallback where oneDNN is wrong.</summary>
    NoOneDnn,
}

/// <summary>
/// Switches libtorch's global convolution backends through its exported C++ API (<c>at::globalContext()</c>,
/// <c>Context::setUserEnabledMkldnn</c>, <c>setUserEnabledNNPACK</c>; Itanium ABI, <c>this</c> first). NNPACK is
/// always off: on CPUs it does not support (Zen 5) libtorch prints a raw "Could not initialize NNPACK! Unsupported
/// hardware" line to standard error for each convolution that considers it, on either path; oneDNN or libtorch's
/// own kernels compute those convolutions instead.
/// </summary>
static class LibTorchContext
{
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    public static void Use(ConvolutionPath path)
    {
        var context = GlobalContext();
        bool oneDnn = path == ConvolutionPath.OneDnn;
        SetUserEnabledMkldnn(context, oneDnn);
        SetUserEnabledNnpack(context, false);
    }
}
