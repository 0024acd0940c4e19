// libtorch's random generator is global to the process: tests that seed it (training, initialisation,
// dropout) would see each other's draws if they ran in parallel. The product itself is single-threaded.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
