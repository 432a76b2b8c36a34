using CucmSim.Catalog;
using CucmSim.Tests.Infrastructure;
using k8s;
using k8s.Models;

namespace CucmSim.Tests.Deploy;

/// <summary>
/// deploy/k8s rendered by kubectl kustomize (offline) and read back with the Kubernetes client's typed models: the
/// image, the arguments serve and probe understand, health probes, the security context, and every listener
/// reachable.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static async Task<List<object>> RenderAsync(string overlay)
    {
        var result = await ExternalTool.RunAsync("kubectl", ["kustomize", Path.Combine(Repository.Root(), "deploy", "k8s", "overlays", overlay)], TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.All);
        return KubernetesYaml.LoadAllFromString(result.Stdout);
    }

    public static TheoryData<string, int> Overlays() => new() { { "single", 1 }, { "cluster", 3 } };

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task The_cucm_nodes_run_serve_on_the_nodes_network_healthy_and_unprivileged(string overlay, int nodes)
    {
        var objects = await RenderAsync(overlay);
        var set = Assert.Single(objects.OfType<V1StatefulSet>());
        Assert.Equal(nodes, set.Spec.Replicas);
        Assert.Equal("cucmsim", set.Metadata.NamespaceProperty);
        Assert.Equal("cucm", set.Spec.ServiceName);
        var service = Assert.Single(objects.OfType<V1Service>(), s => s.Metadata.Name == "cucm");
        Assert.Equal("None", service.Spec.ClusterIP);

        var pod = set.Spec.Template.Spec;
        Assert.True(pod.HostNetwork);
        Assert.Equal("ClusterFirstWithHostNet", pod.DnsPolicy);
        Assert.Equal("kubernetes.io/hostname", Assert.Single(pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution).TopologyKey);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.NotEqual(0, pod.SecurityContext.RunAsUser);

        var serve = Assert.Single(pod.Containers);
        Assert.StartsWith("cucmsim:", serve.Image, StringComparison.Ordinal);
        Assert.Equal(["serve", "--role", "cucm"], serve.Args.Take(3));
        Assert.Contains("--control", serve.Args);
        Assert.Equal("0.0.0.0:9900", serve.Args[serve.Args.IndexOf("--control") + 1]);
        Assert.StartsWith("/var/lib/cucmsim/", serve.Args[serve.Args.IndexOf("--ledger") + 1], StringComparison.Ordinal);
        Assert.Contains(serve.VolumeMounts, m => m.MountPath == "/var/lib/cucmsim" && m.Name == "state");
        Assert.Contains(set.Spec.VolumeClaimTemplates, c => c.Metadata.Name == "state");

        foreach (var probe in new[] { serve.ReadinessProbe, serve.LivenessProbe })
        {
            Assert.Equal("/healthz", probe.HttpGet.Path);
            Assert.Equal("9900", probe.HttpGet.Port.Value);
        }

        var security = serve.SecurityContext;
        Assert.True(security.ReadOnlyRootFilesystem);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Equal(["NET_BIND_SERVICE"], security.Capabilities.Add);

        // Every port named is a listener of the role (or the control API); with hostNetwork, every other listener is
        // on the node too, as the annotation says.
        var profile = ProfileLoader.Load(ProfileLoader.DefaultProfile);
        var plan = ListenerPlan.Build(profile, "cucm");
        foreach (var port in serve.Ports)
        {
            Assert.Equal(port.ContainerPort, port.HostPort ?? port.ContainerPort);
            var transport = port.Protocol == "UDP" ? Transport.Udp : Transport.Tcp;
            Assert.True(port.ContainerPort == 9900 || plan.Listeners.Any(l => l.Transport == transport && l.Port == port.ContainerPort),
                $"{port.Name} {port.Protocol}/{port.ContainerPort} is not a listener of role cucm");
        }

        Assert.Contains("hostNetwork", set.Spec.Template.Metadata.Annotations["cucmsim/listeners"], StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task The_probe_job_targets_the_publisher_by_its_stable_name_and_keeps_its_reports(string overlay, int nodes)
    {
        _ = nodes;
        var job = Assert.Single((await RenderAsync(overlay)).OfType<V1Job>());
        Assert.Equal(0, job.Spec.BackoffLimit);
        var pod = job.Spec.Template.Spec;
        Assert.Equal("Never", pod.RestartPolicy);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        var probe = Assert.Single(pod.Containers);
        Assert.Equal(["probe", "cucm-0.cucm"], probe.Args.Take(2));
        Assert.Equal("http://cucm-0.cucm:9900", probe.Args[probe.Args.IndexOf("--control") + 1]);
        foreach (var report in new[] { "--json", "--junit", "--html" })
        {
            Assert.StartsWith("/reports/", probe.Args[probe.Args.IndexOf(report) + 1], StringComparison.Ordinal);
        }

        Assert.Contains(probe.VolumeMounts, m => m.MountPath == "/reports");
        Assert.False(probe.SecurityContext.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], probe.SecurityContext.Capabilities.Drop);
    }
}
