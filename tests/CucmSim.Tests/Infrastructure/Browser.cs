using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace CucmSim.Tests.Infrastructure;

/// <summary>
/// Debian's Chromium, headless, driven by Debian's chromedriver through Selenium: never a downloaded browser or
/// driver. Each instance has a new empty profile directory, removed on dispose, and nothing that reaches out to
/// the network by itself (updates, sync, QUIC).
/// </summary>
public sealed class Browser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";

    private readonly string _profile;

    public Browser(int width = 1400, int height = 1000)
    {
        // The driver is named below; Selenium Manager must never look for one on the network.
        Environment.SetEnvironmentVariable("SE_OFFLINE", "true");
        _profile = SimHost.TempDirectory();
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={_profile}",
            $"--window-size={width},{height}");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        Driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
        Driver.Manage().Timeouts().AsynchronousJavaScript = TimeSpan.FromSeconds(10);
    }

    public ChromeDriver Driver { get; }

    /// <summary>True when Debian's browser and driver are installed (test.sh installs them).</summary>
    public static bool Available => File.Exists(ChromiumPath) && File.Exists(DriverPath);

    /// <summary>The browser's console: every entry since the last call.</summary>
    public IReadOnlyList<LogEntry> Console() => Driver.Manage().Logs.GetLog(LogType.Browser);

    /// <summary>Console entries at SEVERE level (errors, failed loads, uncaught exceptions).</summary>
    public List<string> ConsoleErrors() => Console().Where(e => e.Level >= LogLevel.Severe).Select(e => e.Message).ToList();

    /// <summary>Waits until the condition holds; fails with the description after the timeout (default 10 s).</summary>
    public T Until<T>(Func<IWebDriver, T> condition, string what, TimeSpan? timeout = null)
    {
        var wait = new WebDriverWait(Driver, timeout ?? TimeSpan.FromSeconds(10)) { PollingInterval = TimeSpan.FromMilliseconds(50), Message = what };
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException), typeof(NoSuchElementException));
        // A value that is null, false or an empty list is "not yet".
        return wait.Until(d => condition(d) is var v && v is not null && !(v is bool b && !b) && !(v is System.Collections.ICollection { Count: 0 }) ? v : default);
    }

    public string Screenshot(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name);
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
