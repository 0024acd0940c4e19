namespace Pfa.Core.Errors;

/// <summary>Marks a budget error (PFA0007) as "a latency target the narrowest widths cannot meet", so that the
/// search's depth candidates and the message about removing blocks answer this error and no other budget error.
/// A mark on the exception, not a type of its own: callers and tests keep catching <see cref="PfaException"/>.</summary>
public static class LatencyOutOfReach
{
    const string Key = "pfa.latency-out-of-reach";

    public static PfaException Mark(PfaException error)
    {
        error.Data[Key] = true;
        return error;
    }

    public static bool Is(Exception error) => error is PfaException && error.Data[Key] is true;
}
