using System.Net;
using System.Net.Http.Headers;
using CucmSim.Probe;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>The control API's token off loopback, and the state directory's permissions (docs/security.md).</summary>
public sealed class SafeDefaultsTests
{
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0700 = Mode0600 | UnixFileMode.UserExecute;

    [Fact]
    public async Task On_loopback_the_control_api_asks_for_no_token()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.tftp"], EphemeralPorts = true });
        Assert.True(IPAddress.IsLoopback(server.ControlEndPoint!.Address));
        Assert.Null(server.ControlAccess!.Token);
        using var http = server.Control();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/listeners").DefaultTimeout()).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/ledger").DefaultTimeout()).StatusCode);
        Assert.False(File.Exists(Path.Combine(server.Options.StateDirectory, ControlAccess.FileName)));
    }

    [Fact]
    public async Task Off_loopback_serve_generates_a_token_prints_it_once_keeps_it_0600_and_answers_401_without_it()
    {
        var state = Path.Combine(SimHost.TempDirectory(), "state");
        await using var serve = CucmSimProcess.Start("serve", "--only", "t2.tftp", "--ephemeral-ports", "--bind", "127.0.0.1",
            "--control", "0.0.0.0:0", "--state-dir", state, "--ledger", "none");
        await serve.ReadyAsync();
        var file = Path.Combine(state, ControlAccess.FileName);
        var token = (await File.ReadAllTextAsync(file)).Trim();
        Assert.True(token.Length >= ControlAccess.MinimumLength, token);
        Assert.Equal(Mode0600, File.GetUnixFileMode(file));
        Assert.Equal(Mode0700, File.GetUnixFileMode(state));
        Assert.Single(serve.Output.Split('\n'), line => line.Contains(token, StringComparison.Ordinal));

        using var http = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = new Uri($"http://127.0.0.1:{serve.Control!.Port}"), Timeout = TimeSpan.FromSeconds(10) };
        foreach (var path in new[] { "/api/listeners", "/api/ledger", "/api/ledger/stream", "/metrics", "/" })
        {
            using var refused = await http.GetAsync(path).DefaultTimeout();
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/listeners"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^1] + (token[^1] == 'x' ? 'y' : 'x'));
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong).DefaultTimeout()).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync("/api/probe-runs", new StringContent("{}")).DefaultTimeout()).StatusCode);

        // Container health checks need no token, and learn only whether everything is up.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz").DefaultTimeout()).StatusCode);

        using (var bearer = new HttpRequestMessage(HttpMethod.Get, "/api/listeners"))
        {
            bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(bearer).DefaultTimeout()).StatusCode);
        }

        // A browser opens the dashboard with ?token= once; the HttpOnly cookie carries it for its scripts.
        using var page = await http.GetAsync($"/?token={Uri.EscapeDataString(token)}").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var cookie = page.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith($"{ControlAccess.CookieName}=", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        using (var withCookie = new HttpRequestMessage(HttpMethod.Get, "/api/ledger"))
        {
            withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(withCookie).DefaultTimeout()).StatusCode);
        }
    }

    [Fact]
    public async Task A_given_token_is_asked_for_on_loopback_too_and_the_probe_sends_it()
    {
        const string token = "a-long-enough-test-token-0123";
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t6.sccp"], PortOffset = 61700, ControlToken = token });
        using var http = server.Control();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/probe-runs").DefaultTimeout()).StatusCode);
        Assert.False(File.Exists(Path.Combine(server.Options.StateDirectory, ControlAccess.FileName)));

        var without = new StringWriter();
        await ProbeCommand.RunAsync(["127.0.0.1", "--port-offset", "61700", "--only", "t6.sccp", "--timeout", "1", "--retries", "0",
            "--report-to", $"{server.ControlEndPoint}"], TextWriter.Null, without).DefaultTimeout();
        Assert.Contains("HTTP 401", without.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, server.ProbeRuns.Count);

        var with = new StringWriter();
        await ProbeCommand.RunAsync(["127.0.0.1", "--port-offset", "61700", "--only", "t6.sccp", "--timeout", "1", "--retries", "0",
            "--control", $"http://{server.ControlEndPoint}", "--report-to", $"{server.ControlEndPoint}", "--report-token", token], TextWriter.Null, with).DefaultTimeout();
        Assert.DoesNotContain("--report-to", with.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("--control", with.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, server.ProbeRuns.Count);
    }

    [Fact]
    public async Task Serve_refuses_a_world_writable_state_directory_and_warns_about_a_group_writable_one()
    {
        var state = SimHost.TempDirectory();
        File.SetUnixFileMode(state, Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
        await using (var refused = CucmSimProcess.Start("serve", "--only", "t2.tftp", "--ephemeral-ports", "--bind", "127.0.0.1", "--control", "127.0.0.1:0", "--state-dir", state, "--ledger", "none"))
        {
            Assert.Equal(1, await refused.ExitAsync());
            Assert.Contains("writable by every user", refused.Output, StringComparison.Ordinal);
            Assert.Contains("chmod 700", refused.Output, StringComparison.Ordinal);
        }

        File.SetUnixFileMode(state, Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);
        await using var warned = CucmSimProcess.Start("serve", "--only", "t2.tftp", "--ephemeral-ports", "--bind", "127.0.0.1", "--control", "127.0.0.1:0", "--state-dir", state, "--ledger", "none");
        await warned.ReadyAsync();
        Assert.Contains("writable by its group", warned.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Generated_private_keys_are_0600_in_0700_directories_and_older_ones_are_tightened()
    {
        var state = Path.Combine(SimHost.TempDirectory(), "state");
        var certificates = new CertificateService(new CertificateOptions { StateDirectory = state });
        using (certificates.Get("CallManager"))
        {
        }

        var pfx = Path.Combine(state, "certs", "CallManager.pfx");
        Assert.Equal(Mode0600, File.GetUnixFileMode(pfx));
        Assert.Equal(Mode0700, File.GetUnixFileMode(Path.Combine(state, "certs")));
        Assert.Equal(Mode0700, File.GetUnixFileMode(state));

        using (CucmSim.Serve.Ssh.SshHostKey.LoadOrCreate(state))
        {
        }

        var key = Path.Combine(state, "ssh", "ssh_host_ecdsa_key");
        Assert.Equal(Mode0600, File.GetUnixFileMode(key));
        Assert.Equal(Mode0700, File.GetUnixFileMode(Path.Combine(state, "ssh")));

        // Keys an older version left readable by others lose those bits when loaded.
        File.SetUnixFileMode(pfx, Mode0600 | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.SetUnixFileMode(key, Mode0600 | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        using (new CertificateService(new CertificateOptions { StateDirectory = state }).Get("CallManager"))
        {
        }

        using (CucmSim.Serve.Ssh.SshHostKey.LoadOrCreate(state))
        {
        }

        Assert.Equal(Mode0600, File.GetUnixFileMode(pfx));
        Assert.Equal(Mode0600, File.GetUnixFileMode(key));
    }
}
