package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const jobManifest = "k8s/gpusmoke-job.yaml"

// decodeJob reads a manifest strictly into batch/v1 Job: an unknown or duplicated field is an
// error, as `kubectl apply --validate=strict` makes it.
func decodeJob(path string) (*batchv1.Job, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(b, &job); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &job, nil
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkJob checks every field of the Job that a fleet run relies on, and returns each problem.
func checkJob(job *batchv1.Job) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		bad("kind %s, want batch/v1 Job (apiVersion %s)", job.Kind, job.APIVersion)
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		got := "unset"
		if s.CompletionMode != nil {
			got = string(*s.CompletionMode)
		}
		bad("spec.completionMode: %s, want Indexed", got)
	}
	switch {
	case s.Completions == nil || s.Parallelism == nil:
		bad("spec.completions and spec.parallelism must both be set to the number of nodes")
	case *s.Completions < 1:
		bad("spec.completions %d, want the number of nodes", *s.Completions)
	case *s.Parallelism != *s.Completions:
		bad("spec.parallelism %d != spec.completions %d: one pod per node, all at once", *s.Parallelism, *s.Completions)
	}
	// The runbook forbids retries.
	switch {
	case s.BackoffLimitPerIndex != nil:
		if *s.BackoffLimitPerIndex != 0 {
			bad("spec.backoffLimitPerIndex: %d, want 0 (no retry)", *s.BackoffLimitPerIndex)
		}
	case s.BackoffLimit != nil && *s.BackoffLimit == 0:
	default:
		bad("spec: want backoffLimitPerIndex: 0 or backoffLimit: 0 (no retry)")
	}

	pod := s.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		bad("spec.template.spec.restartPolicy: %s, want Never", pod.RestartPolicy)
	}
	if !onePerNode(s.Template.Labels, &pod) {
		bad("spec.template.spec: no required pod anti-affinity or DoNotSchedule topology spread on kubernetes.io/hostname that selects the Job's own pods (labels %v)", s.Template.Labels)
	}

	var c *corev1.Container
	for i := range pod.Containers {
		if strings.Contains(strings.Join(append(append([]string{}, pod.Containers[i].Command...), pod.Containers[i].Args...), " "), "run-smoke") {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		if len(pod.Containers) == 0 {
			bad("spec.template.spec.containers: none")
			return errors.Join(errs...)
		}
		c = &pod.Containers[0]
		bad("container %s: command %q: does not run run-smoke", c.Name, append(c.Command, c.Args...))
	}
	if q, ok := c.Resources.Limits["nvidia.com/gpu"]; !ok || q.Value() < 1 {
		bad("container %s: resources.limits: no nvidia.com/gpu", c.Name)
	}

	// env: the downward API names the node and the pod; each $(VAR) in a value must be defined
	// earlier in the list, or Kubernetes leaves it as it is.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		for _, m := range envRef.FindAllStringSubmatch(e.Value, -1) {
			if _, ok := env[m[1]]; !ok {
				bad("env %s: $(%s) is defined after it, so Kubernetes leaves it unexpanded", e.Name, m[1])
			}
		}
		env[e.Name] = e
	}
	for name, path := range map[string]string{"NODE_NAME": "spec.nodeName", "POD_NAME": "metadata.name"} {
		e, ok := env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			bad("env %s: want fieldRef %s (the downward API)", name, path)
		}
	}
	if d, ok := env["DIFFTRAIN_DIR"]; ok && filepath.Base(d.Value) != "difftrain" {
		bad("env DIFFTRAIN_DIR=%s: the checkout must be named difftrain, as the runbook's ./difftrain/... paths assume", d.Value)
	}

	// The evidence: SMOKE_OUT is the mount of a shared volume whose sub path names the node and
	// the pod, with variables the container defines.
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.SubPathExpr != "" {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		bad("container %s: no volume mount with a subPathExpr for the evidence", c.Name)
		return errors.Join(errs...)
	}
	refs := envRef.FindAllStringSubmatch(mount.SubPathExpr, -1)
	names := map[string]bool{}
	for _, m := range refs {
		names[m[1]] = true
		if _, ok := env[m[1]]; !ok {
			bad("volumeMount %s: subPathExpr %s: $(%s) is not a container env var", mount.Name, mount.SubPathExpr, m[1])
		}
	}
	if !names["NODE_NAME"] && !names["POD_NAME"] {
		bad("volumeMount %s: subPathExpr %s: names neither $(NODE_NAME) nor $(POD_NAME): every pod would write one directory", mount.Name, mount.SubPathExpr)
	}
	if out := env["SMOKE_OUT"].Value; filepath.Clean(out) != filepath.Clean(mount.MountPath) {
		bad("env SMOKE_OUT=%s: not the mountPath of the volume mounted with subPathExpr (%s)", out, mount.MountPath)
	}
	found := false
	for _, v := range pod.Volumes {
		if v.Name == mount.Name {
			found = true
			if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName == "" {
				bad("volume %s: want a persistentVolumeClaim (shared storage the fleet report is rendered from)", v.Name)
			}
		}
	}
	if !found {
		bad("volumeMount %s: no such volume", mount.Name)
	}
	return errors.Join(errs...)
}

// onePerNode: a required anti-affinity term, or a DoNotSchedule spread with maxSkew 1, on the
// host name, whose selector picks the Job's own pods.
func onePerNode(podLabels map[string]string, pod *corev1.PodSpec) bool {
	selects := func(ls *metav1.LabelSelector) bool {
		sel, err := metav1.LabelSelectorAsSelector(ls)
		return err == nil && ls != nil && !sel.Empty() && sel.Matches(labels.Set(podLabels))
	}
	if a := pod.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == corev1.LabelHostname && selects(term.LabelSelector) {
				return true
			}
		}
	}
	for _, c := range pod.TopologySpreadConstraints {
		if c.TopologyKey == corev1.LabelHostname && c.MaxSkew == 1 && c.WhenUnsatisfiable == corev1.DoNotSchedule && selects(c.LabelSelector) {
			return true
		}
	}
	return false
}

// TestJobManifest decodes the Job strictly and checks what the fleet run relies on.
func TestJobManifest(t *testing.T) {
	job, err := decodeJob(jobManifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkJob(job); err != nil {
		t.Fatalf("%s:\n%v", jobManifest, err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if got := strings.Join(c.Command, " "); got != "/opt/gpusmoke/run-smoke" {
		t.Errorf("command %q: deploy/README.md documents the image with the bundle in /opt/gpusmoke", got)
	}
}

var wantLine = regexp.MustCompile(`(?m)^# want: (.+)$`)

// TestJobManifestBroken: each broken copy under testdata/k8s/ is refused with the problem its
// "# want:" line names.
func TestJobManifestBroken(t *testing.T) {
	files, err := filepath.Glob("testdata/k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken manifests under testdata/k8s (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := wantLine.FindSubmatch(b)
			if m == nil {
				t.Fatalf("%s: no '# want:' line", f)
			}
			want := string(m[1])
			job, err := decodeJob(f)
			if err == nil {
				err = checkJob(job)
			}
			if err == nil {
				t.Fatalf("%s passed; want %q", f, want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("%s: got\n%v\nwant an error containing %q", f, err, want)
			}
		})
	}
}
