using System.Runtime.CompilerServices;

namespace CucmSim.Tests.Infrastructure;

/// <summary>Every await in a test ends in DefaultTimeout: a hang fails with what was awaited, never blocks the run.</summary>
public static class TaskTimeout
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);

    public static async Task DefaultTimeout(this Task task, TimeSpan? timeout = null, [CallerArgumentExpression(nameof(task))] string? what = null)
    {
        try
        {
            await task.WaitAsync(timeout ?? Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"timed out after {(timeout ?? Default).TotalSeconds} s waiting for: {what}");
        }
    }

    public static async Task<T> DefaultTimeout<T>(this Task<T> task, TimeSpan? timeout = null, [CallerArgumentExpression(nameof(task))] string? what = null)
    {
        try
        {
            return await task.WaitAsync(timeout ?? Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"timed out after {(timeout ?? Default).TotalSeconds} s waiting for: {what}");
        }
    }
}
