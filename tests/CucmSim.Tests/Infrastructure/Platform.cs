// CucmSim runs on Linux (epoll, setcap, network namespaces); so do its tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
