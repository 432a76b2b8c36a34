namespace CucmSim.Tests.Infrastructure;

/// <summary>The checkout the tests run from: the directory above the test binaries that holds CucmSim.sln.</summary>
internal static class Repository
{
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CucmSim.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("CucmSim.sln not found above " + AppContext.BaseDirectory);
    }
}
