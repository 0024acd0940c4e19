using System.Reflection;
using Pfa.Tests.Shared;
using TorchSharp;

namespace Pfa.Tests;

/// <summary>
/// No code of ours reaches a TorchSharp call that makes a temporary <see cref="Scalar"/> (see
/// <see cref="Pfa.Core.Native.KeptScalars"/>): read from the compiled IL of the engine, the tool and these tests,
/// following calls into TorchSharp (and its virtual calls into the TorchSharp types our code creates) six deep.
/// A method that makes a Scalar must dispose one itself (a <c>using</c>) or be a constructor (a field holds it).
/// </summary>
public class TemporaryScalarTests
{
    static readonly Assembly Torch = typeof(Scalar).Assembly;
    static readonly Assembly[] Ours = [typeof(Pfa.Core.Model.PfaModel).Assembly, typeof(Pfa.Tool.Cli.PfaCli).Assembly, typeof(TemporaryScalarTests).Assembly];

    static bool MakesScalar(MethodBase m) =>
        m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit"
        || m.DeclaringType == typeof(ScalarExtensionMethods) && m.Name.StartsWith("To", StringComparison.Ordinal) && m.Name.EndsWith("Scalar", StringComparison.Ordinal);

    /// <summary>Scalar.Dispose, or IDisposable.Dispose as a <c>using</c> compiles it.</summary>
    static bool DisposesScalar(MethodBase m) => m.Name == nameof(IDisposable.Dispose) && (m.DeclaringType == typeof(Scalar) || m.DeclaringType == typeof(IDisposable));

    /// <summary>TorchSharp methods that make a temporary only where our code does not use them, and why.</summary>
    static readonly Dictionary<string, string> Excused = new()
    {
        // add_(1) on num_batches_tracked in training mode only. The engine builds SafeBatchNorm (checked below);
        // the trainer sets a user module's counters aside (BatchCounters); tests run TorchSharp's in eval mode.
        ["BatchNorm.forward"] = "training mode only",
    };

    sealed class Walk(HashSet<Type> created)
    {
        readonly Dictionary<MethodBase, string?> _memo = new();

        /// <summary>Where <paramref name="m"/> makes a temporary scalar ("A.b > C.d > op_Implicit"), or null.</summary>
        public string? TemporaryIn(MethodBase m, int depth)
        {
            if (_memo.TryGetValue(m, out var known)) return known;
            if (Excused.ContainsKey(Name(m))) return null;
            _memo[m] = null;                                              // cycles: not (yet) known to make one
            var calls = IlCalls.Of(m).ToList();
            string? found = null;
            if (calls.Any(MakesScalar) && !calls.Any(DisposesScalar) && m is not ConstructorInfo)
                found = Name(m) + " > " + calls.First(MakesScalar).Name;
            else if (depth < 6)
                foreach (var c in calls.SelectMany(Targets))
                    if (c.DeclaringType?.Assembly == Torch && TemporaryIn(c, depth + 1) is { } inner) { found = Name(m) + " > " + inner; break; }
            return _memo[m] = found;
        }

        /// <summary>The call itself and, for a virtual TorchSharp method, its overrides in the TorchSharp types we create.</summary>
        public IEnumerable<MethodBase> Targets(MethodBase call)
        {
            yield return call;
            if (call is not MethodInfo { IsVirtual: true } v || v.DeclaringType is not { } declaring) yield break;
            var definition = v.GetBaseDefinition();
            foreach (var t in created.Where(declaring.IsAssignableFrom))
                foreach (var o in t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
                    if (o.Name == v.Name && o.DeclaringType != declaring && o.DeclaringType?.Assembly == Torch && o.GetBaseDefinition() == definition)
                        yield return o;
        }
    }

    static string Name(MethodBase m) => $"{m.DeclaringType?.Name}.{m.Name}";

    /// <summary>Methods that build TorchSharp modules only to describe them, never running them, and which.</summary>
    static readonly Dictionary<string, string> DescribedOnly = new()
    {
        [$"{nameof(CheckpointTests)}.{nameof(CheckpointTests.TorchSharp_s_own_leaky_relu_and_batch_norms_describe_as_ours_do)}"] = "LeakyReLU",
    };

    /// <summary>TorchSharp types the methods create: constructed (not as a base), or returned by a factory (nn.Conv2d(…) → Conv2d).</summary>
    static HashSet<Type> Created(IEnumerable<MethodBase> methods)
    {
        var created = new HashSet<Type>();
        foreach (var c in methods.SelectMany(IlCalls.Of).Where(c => c.DeclaringType?.Assembly == Torch))
        {
            var t = c is ConstructorInfo ? c.DeclaringType! : ((MethodInfo)c).ReturnType;
            if (t.Assembly == Torch && !t.IsAbstract) created.Add(t);
        }
        return created;
    }

    [Fact]
    public void No_call_of_ours_reaches_a_temporary_scalar()
    {
        var ours = Ours.SelectMany(IlCalls.Declared).Where(m => m.DeclaringType?.Namespace?.StartsWith("Pfa", StringComparison.Ordinal) == true).ToList();
        // TorchSharp types our code creates: constructed, or returned by a factory (nn.Conv2d(…) → Conv2d).
        var created = Created(ours.Where(m => !DescribedOnly.ContainsKey(Name(m))));
        var walk = new Walk(created);
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var m in ours)
        {
            var calls = IlCalls.Of(m).ToList();
            if (calls.Any(MakesScalar) && !calls.Any(DisposesScalar) && m is not ConstructorInfo)
                found.Add($"{m.DeclaringType!.FullName}.{m.Name} makes a Scalar it does not dispose ({calls.First(MakesScalar).Name})");
            foreach (var c in calls.Where(c => c.DeclaringType?.Assembly == Torch).SelectMany(walk.Targets))
                if (walk.TemporaryIn(c, 0) is { } where)
                    found.Add($"{m.DeclaringType!.FullName}.{m.Name} calls {where}");
        }
        Assert.True(found.Count == 0, "temporary scalars (pass a KeptScalars field or a scalar in a using):\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_engine_creates_only_batch_norms_and_leaky_relus_that_keep_their_scalars()
    {
        var created = Created(new[] { typeof(Pfa.Core.Model.PfaModel).Assembly, typeof(Pfa.Tool.Cli.PfaCli).Assembly }.SelectMany(IlCalls.Declared));
        Assert.DoesNotContain(created, t => typeof(TorchSharp.Modules.BatchNorm).IsAssignableFrom(t) || t == typeof(TorchSharp.Modules.LeakyReLU));
    }

    [Fact]
    public void The_walk_finds_what_torchsharp_s_own_optimizer_and_batch_norm_do()
    {
        // The scan itself can fail: TorchSharp's SGD step and BatchNorm2d forward make temporaries (the crash's cause).
        var walk = new Walk([typeof(TorchSharp.Modules.SGD), typeof(TorchSharp.Modules.LeakyReLU)]);
        Assert.NotNull(walk.TemporaryIn(typeof(TorchSharp.Modules.SGD).GetMethod("step")!, 0));
        Assert.NotNull(walk.TemporaryIn(typeof(TorchSharp.Modules.LeakyReLU).GetMethod("forward")!, 0));
        Assert.NotNull(walk.TemporaryIn(typeof(torch.Tensor).GetMethod("op_Addition", [typeof(torch.Tensor), typeof(torch.Tensor)])!, 0));
        Assert.Null(walk.TemporaryIn(typeof(Pfa.Core.Model.Modules.SafeBatchNorm).GetMethod("forward")!, 0));
        Assert.Null(walk.TemporaryIn(typeof(Pfa.Core.Training.Sgd).GetMethod("Step")!, 0));
    }
}
