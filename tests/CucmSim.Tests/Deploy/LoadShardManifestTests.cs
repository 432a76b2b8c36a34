using System.Text.Json;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;
using k8s;
using k8s.Models;
using Xunit;

namespace CucmSim.Tests.Deploy;

/// <summary>
/// deploy/k8s/load rendered by kubectl kustomize (offline) and read back with the Kubernetes client's typed models:
/// the Indexed Job whose pods are the shards, the headless Service that finds shard 0, and the plan in a ConfigMap
/// at the path the shards read.
/// </summary>
public sealed class LoadShardManifestTests
{
    private const string IndexAnnotation = "batch.kubernetes.io/job-completion-index";

    private sealed record Rendered(List<object> Objects, string Yaml);

    private static async Task<Rendered> RenderAsync(string dir)
    {
        var result = await ExternalTool.RunAsync("kubectl", ["kustomize", Path.Combine(Repository.Root(), "deploy", "k8s", "load", dir)], TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.All);

        // The NetworkAttachmentDefinition has no typed model: it is checked as text, the rest typed.
        var documents = result.Stdout.Split("\n---\n");
        var typed = documents.Where(d => !d.Contains("kind: NetworkAttachmentDefinition", StringComparison.Ordinal));
        return new Rendered(KubernetesYaml.LoadAllFromString(string.Join("\n---\n", typed)), result.Stdout);
    }

    public static TheoryData<string, int, bool> Variants() => new() { { "base", 4, true }, { "overlays/multus", 8, false } };

    private static string Arg(IList<string> args, string option)
    {
        var i = args.IndexOf(option);
        Assert.True(i >= 0 && i + 1 < args.Count, $"no {option} in {string.Join(' ', args)}");
        return args[i + 1];
    }

    private static string Env(V1Container container, string name) => Assert.Single(container.Env, e => e.Name == name).Value;

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task The_shards_are_an_indexed_job_whose_index_and_count_reach_every_container(string dir, int shards, bool hostNetwork)
    {
        _ = hostNetwork;
        var job = Assert.Single((await RenderAsync(dir)).Objects.OfType<V1Job>());
        Assert.Equal("Indexed", job.Spec.CompletionMode);
        Assert.Equal(shards, job.Spec.Completions);
        Assert.Equal(shards, job.Spec.Parallelism);
        Assert.Equal(0, job.Spec.BackoffLimit);
        var pod = job.Spec.Template.Spec;
        Assert.Equal("Never", pod.RestartPolicy);

        var load = Assert.Single(pod.Containers);
        var sources = Assert.Single(pod.InitContainers);
        foreach (var container in new[] { load, sources })
        {
            Assert.StartsWith("cucmsim:", container.Image, StringComparison.Ordinal);
            var index = Assert.Single(container.Env, e => e.Name == "JOB_COMPLETION_INDEX");
            Assert.Equal($"metadata.annotations['{IndexAnnotation}']", index.ValueFrom.FieldRef.FieldPath);
            Assert.Equal(shards.ToString(System.Globalization.CultureInfo.InvariantCulture), Env(container, "SHARDS"));
        }

        // The shard count reaches the command as $(SHARDS), which Kubernetes expands from the env.
        Assert.Equal(["load", "--plan"], load.Args.Take(2));
        Assert.Equal("$(SHARDS)", Arg(load.Args, "--shards"));
        Assert.Contains("$(JOB_COMPLETION_INDEX)", Arg(load.Args, "--json"), StringComparison.Ordinal);
        Assert.False(load.SecurityContext.AllowPrivilegeEscalation);
        Assert.True(load.SecurityContext.RunAsNonRoot);

        var script = Assert.Single(sources.Args);
        Assert.Equal(["/bin/sh", "-c"], sources.Command);
        Assert.Contains("load sources", script, StringComparison.Ordinal);
        Assert.Contains("--shard \"$JOB_COMPLETION_INDEX/$SHARDS\"", script, StringComparison.Ordinal);
        Assert.Contains("--commands | /bin/sh", script, StringComparison.Ordinal);
        Assert.Equal(["NET_ADMIN"], sources.SecurityContext.Capabilities.Add);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task The_coordinator_service_selects_shard_0_alone_on_the_port_the_shards_use(string dir, int shards, bool hostNetwork)
    {
        _ = (shards, hostNetwork);
        var objects = (await RenderAsync(dir)).Objects;
        var job = Assert.Single(objects.OfType<V1Job>());
        var service = Assert.Single(objects.OfType<V1Service>());
        Assert.Equal("None", service.Spec.ClusterIP);
        Assert.True(service.Spec.PublishNotReadyAddresses);

        // The selector is the pods' own labels plus the index label Kubernetes gives each pod: index 0 alone.
        var labels = new Dictionary<string, string>(job.Spec.Template.Metadata.Labels) { [IndexAnnotation] = "0" };
        Assert.All(service.Spec.Selector, s => Assert.Equal(s.Value, labels.GetValueOrDefault(s.Key)));
        Assert.Equal("0", service.Spec.Selector[IndexAnnotation]);
        labels[IndexAnnotation] = "1";
        Assert.False(service.Spec.Selector.All(s => labels.GetValueOrDefault(s.Key) == s.Value), "the Service selects shard 1 as well");

        var load = Assert.Single(job.Spec.Template.Spec.Containers);
        var port = Assert.Single(service.Spec.Ports);
        Assert.Equal($"{service.Metadata.Name}:{port.Port}", Arg(load.Args, "--coordinator"));
        Assert.EndsWith($":{port.Port}", Arg(load.Args, "--coordinator-listen"), StringComparison.Ordinal);
        Assert.Contains(load.Ports, p => p.ContainerPort == port.Port && p.Protocol == "TCP");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task The_plan_is_a_config_map_file_at_the_path_every_shard_reads_and_parses_as_a_plan(string dir, int shards, bool hostNetwork)
    {
        _ = (shards, hostNetwork);
        var objects = (await RenderAsync(dir)).Objects;
        var job = Assert.Single(objects.OfType<V1Job>());
        var map = Assert.Single(objects.OfType<V1ConfigMap>());
        var pod = job.Spec.Template.Spec;
        var volume = Assert.Single(pod.Volumes, v => v.ConfigMap is not null);
        Assert.Equal(map.Metadata.Name, volume.ConfigMap.Name);
        var item = Assert.Single(volume.ConfigMap.Items);
        Assert.True(map.Data.ContainsKey(item.Key), $"the ConfigMap has no key {item.Key}");

        foreach (var container in pod.Containers.Concat(pod.InitContainers))
        {
            var mount = Assert.Single(container.VolumeMounts, m => m.Name == volume.Name);
            Assert.True(mount.ReadOnlyProperty);
            var path = mount.MountPath + "/" + item.Path;
            var args = string.Join(' ', container.Args);
            Assert.Contains("--plan " + path + " ", args, StringComparison.Ordinal);
        }

        var plan = LoadPlanFile.Parse(map.Data[item.Key], out var error);
        Assert.True(plan is not null, error);
        Assert.NotNull(plan.Target);
        Assert.NotNull(plan.Sources);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task The_sources_come_from_the_nodes_network_or_from_multus(string dir, int shards, bool hostNetwork)
    {
        _ = shards;
        var rendered = await RenderAsync(dir);
        var job = Assert.Single(rendered.Objects.OfType<V1Job>());
        var pod = job.Spec.Template.Spec;
        var device = Env(Assert.Single(pod.InitContainers), "SOURCE_DEV");
        Assert.Equal(hostNetwork, pod.HostNetwork ?? false);
        if (hostNetwork)
        {
            // One shard per node: their addresses and the coordinator port would collide on one node's network.
            Assert.Equal("ClusterFirstWithHostNet", pod.DnsPolicy);
            Assert.Equal("kubernetes.io/hostname", Assert.Single(pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution).TopologyKey);
            Assert.Null(job.Spec.Template.Metadata.Annotations);
            return;
        }

        Assert.Equal("ClusterFirst", pod.DnsPolicy);
        var networks = JsonDocument.Parse(job.Spec.Template.Metadata.Annotations["k8s.v1.cni.cncf.io/networks"]).RootElement;
        var network = Assert.Single(networks.EnumerateArray().ToList());
        Assert.Equal(device, network.GetProperty("interface").GetString());
        Assert.Contains($"name: {network.GetProperty("name").GetString()}\n", rendered.Yaml, StringComparison.Ordinal);
        Assert.Contains("kind: NetworkAttachmentDefinition", rendered.Yaml, StringComparison.Ordinal);
    }
}
