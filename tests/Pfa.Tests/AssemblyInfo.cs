// libtorch's random generator is global to the process: tests that seed it (training, initialisation,
// dropout) would see each other's draws if they ran in parallel. The product itself is single-threaded.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Pfa.Tests
{
    static class TestAssemblyStart
    {
        // Before any test touches a tensor: the tests see libtorch's GEMMs as the tool does.
#pragma warning disable CA2255
        [System.Runtime.CompilerServices.ModuleInitializer]
        internal static void Configure() => Pfa.Core.Native.GemmReproducibility.Configure();
#pragma warning restore CA2255
    }
}
