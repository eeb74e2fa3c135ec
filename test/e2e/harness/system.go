package harness

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/aws/awsfake"
	"github.com/breakwater-dev/breakwater/internal/promsource"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/promtest"
	"github.com/breakwater-dev/breakwater/test/redistest"
	"github.com/breakwater-dev/breakwater/test/testenv"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

//go:embed manifests/*.yaml
var manifestFiles embed.FS

// The demo's fixed names.
const (
	Namespace     = "demo"
	ModelID       = "anthropic.claude-3-5-haiku-20241022-v1:0"
	QuotaName     = "claude-budget"
	PolicyName    = "claude-regions"
	EndpointName  = "claude"
	PrimaryTarget = "us-east-1"
	BackupTarget  = "us-west-2"

	// Credentials of the simulated AWS account: the guards sign Bedrock calls with them and the
	// simulator checks the signatures; the manager signs its Bedrock catalogue calls.
	accessKeyID     = "demo-access-key-id"
	secretAccessKey = "demo-secret-access-key-not-a-real-one"
)

// Workload is one of the demo's GenAIWorkloads, with its Deployment and load.
type Workload struct {
	Name        string
	Criticality breakwaterv1alpha1.Criticality
	Replicas    int32
	MinReplicas int32
	Endpoints   []string
	Backends    []string
}

// Workloads are the demo's three applications, most critical first.
var Workloads = []Workload{
	{Name: "checkout-assistant", Criticality: breakwaterv1alpha1.CriticalityCritical, Replicas: 2, MinReplicas: 2,
		Endpoints: []string{"claude"}, Backends: []string{"docs"}},
	{Name: "support-assistant", Criticality: breakwaterv1alpha1.CriticalityStandard, Replicas: 3, MinReplicas: 1,
		Endpoints: []string{"claude", "llama"}},
	{Name: "report-summarizer", Criticality: breakwaterv1alpha1.CriticalitySheddable, Replicas: 2, MinReplicas: 0,
		Endpoints: []string{"claude"}},
}

// Timing is how fast the control loops and the story's policies react. The demo's values are far
// shorter than production defaults so that the whole story fits in a few minutes.
type Timing struct {
	Scrape, Evaluation                      time.Duration
	FailoverWindow, ShiftCooldown, Stable   time.Duration
	QuotaWindow, QuotaMinDwell, ScaleCooldn time.Duration
}

// DemoTiming is the timing of `make demo` and the end-to-end suite.
var DemoTiming = Timing{
	Scrape: time.Second, Evaluation: 2 * time.Second,
	FailoverWindow: 10 * time.Second, ShiftCooldown: 8 * time.Second, Stable: 12 * time.Second,
	QuotaWindow: 15 * time.Second, QuotaMinDwell: 8 * time.Second, ScaleCooldn: 10 * time.Second,
}

// Options configure Start.
type Options struct {
	// WorkDir holds binaries, logs and generated files; it is created and emptied of old logs.
	WorkDir string
	// Out receives progress lines.
	Out io.Writer
	// Timing defaults to DemoTiming.
	Timing Timing
	// TokensPerMinute is the TokenQuota's limit; default 60000.
	TokensPerMinute int64
}

// System is the running whole.
type System struct {
	opts  Options
	procs localproc.Group
	stops []func()

	Env        *testenv.Env
	Kube       kubernetes.Interface
	Client     ctrlclient.Client
	Kubeconfig string
	kubectl    string

	Sims         map[string]*upstreamsim.Server // by role: east, west, openai, search
	simURLs      map[string]string
	aws          *awsfake.Server
	Redis        *redistest.Server // the admission store the guards share the TokenQuota in
	PromURL      string
	managerProc  *localproc.Proc
	managerArgs  []string
	managerEnv   []string
	managerProbe string
	ManagerURL   string // the manager's metrics endpoint

	Guards map[string]*Guard
	Loads  map[string]*Load
}

// Guard is one workload's guard process.
type Guard struct {
	Workload   string
	URL        string // app-facing listener
	AdminURL   string
	Kubeconfig string // credentials of the workload's ServiceAccount
	proc       *localproc.Proc
}

// Start brings the whole system up. On error everything already started is stopped.
func Start(ctx context.Context, o Options) (s *System, err error) {
	if o.Timing == (Timing{}) {
		o.Timing = DemoTiming
	}
	if o.TokensPerMinute == 0 {
		o.TokensPerMinute = 60000
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	sys := &System{opts: o, Guards: map[string]*Guard{}, Loads: map[string]*Load{}}
	defer func() {
		if err != nil {
			sys.Stop()
		}
	}()
	s = sys
	sys.procs.LogDir = filepath.Join(o.WorkDir, "logs")
	if err := os.MkdirAll(sys.procs.LogDir, 0o755); err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"building the manager and guard binaries", s.build},
		{"starting the upstream simulator (two Bedrock regions, OpenAI-compatible, OpenSearch) and the AWS control-plane fake", s.startUpstreams},
		{"starting kube-apiserver and etcd with the CRDs and the webhook configuration", s.startControlPlane},
		{"picking ports and starting Prometheus", s.startPrometheus},
		{"starting Redis, the admission store the guards share the TokenQuota's budget in", s.startRedis},
		{"starting the manager (controllers, control loops, injection webhook)", s.startManager},
		{"applying the demo's ModelEndpoints, RetrievalBackend, TokenQuota, FailoverPolicy, GenAIWorkloads and Deployments", s.apply},
		{"creating the Deployments' pods through the API server (the webhook injects the guard)", s.createPods},
		{"starting one guard per workload as its injected container would run", s.startGuards},
	}
	for _, st := range steps {
		start := time.Now()
		s.logf("• %s", st.what)
		if err := st.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", st.what, err)
		}
		s.logf("  done in %s", time.Since(start).Round(100*time.Millisecond))
	}
	return s, nil
}

func (s *System) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Out, format+"\n", args...)
}

// Stop stops every process and server the harness started, the newest first.
func (s *System) Stop() {
	for _, l := range s.Loads {
		l.Stop()
	}
	s.procs.StopAll(10 * time.Second)
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

func (s *System) bin(name string) string { return filepath.Join(s.opts.WorkDir, name) }

func (s *System) build(ctx context.Context) error {
	for name, pkg := range map[string]string{"manager": "./cmd/manager", "guard": "./cmd/guard"} {
		root, err := testenv.RepoRoot()
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", s.bin(name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return nil
}

func (s *System) startRedis(context.Context) error {
	r, err := redistest.Launch(s.procs.LogDir)
	if err != nil {
		return err
	}
	s.Redis = r
	s.stops = append(s.stops, r.Stop)
	return nil
}

func (s *System) startUpstreams(context.Context) error {
	s.Sims, s.simURLs = map[string]*upstreamsim.Server{}, map[string]string{}
	for role, region := range map[string]string{"east": "us-east-1", "west": "us-west-2", "openai": "", "search": ""} {
		sim := upstreamsim.New(upstreamsim.Options{Region: region, AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		s.stops = append(s.stops, func() { sim.Close(); _ = srv.Close() })
		s.Sims[role], s.simURLs[role] = sim, "http://"+ln.Addr().String()
	}
	s.aws = awsfake.New(awsfake.Options{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey,
		Regions: []string{PrimaryTarget, BackupTarget}})
	s.stops = append(s.stops, s.aws.Close)
	for _, region := range []string{PrimaryTarget, BackupTarget} {
		s.aws.SetFoundationModels(region, awsfake.FoundationModel{ID: ModelID, Name: "Claude 3.5 Haiku", Provider: "Anthropic",
			InferenceTypes: []string{"ON_DEMAND"}, InputModalities: []string{"TEXT"}, OutputModalities: []string{"TEXT"},
			Streaming: ptr.To(true)})
	}
	return nil
}

func (s *System) startControlPlane(context.Context) error {
	env, err := testenv.StartWithWebhooks()
	if err != nil {
		return err
	}
	s.stops = append(s.stops, func() { _ = env.Stop() })
	s.Env, s.Client = env, env.Client
	if s.Kube, err = kubernetes.NewForConfig(env.Config); err != nil {
		return err
	}
	kc, err := env.AdminKubeconfig()
	if err != nil {
		return err
	}
	s.Kubeconfig = filepath.Join(s.opts.WorkDir, "kubeconfig")
	if err := os.WriteFile(s.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	s.kubectl = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	return nil
}

// startPrometheus picks the guards' and the manager's ports first, so that its config can name
// them.
func (s *System) startPrometheus(ctx context.Context) error {
	for _, w := range Workloads {
		app, err := localproc.FreeAddr()
		if err != nil {
			return err
		}
		admin, err := localproc.FreeAddr()
		if err != nil {
			return err
		}
		s.Guards[w.Name] = &Guard{Workload: w.Name, URL: "http://" + app, AdminURL: "http://" + admin}
	}
	addr, err := localproc.FreeAddr()
	if err != nil {
		return err
	}
	s.ManagerURL = "http://" + addr
	dir := filepath.Join(s.opts.WorkDir, "prometheus")
	_ = os.RemoveAll(dir)
	prom, err := promtest.Start(ctx, &s.procs, dir, s.prometheusConfig())
	if err != nil {
		return err
	}
	s.PromURL = prom.URL
	return nil
}

// prometheusConfig scrapes each guard as the pod role of Kubernetes service discovery would present
// it (the __meta_kubernetes_* labels of the workload's first pod), through the same relabeling
// users are told to use (promsource.GuardRelabelConfigs), and the manager's metrics.
func (s *System) prometheusConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		s.opts.Timing.Scrape, s.opts.Timing.Scrape, s.opts.Timing.Scrape)
	b.WriteString("scrape_configs:\n  - job_name: breakwater-guards\n    static_configs:\n")
	for _, w := range Workloads {
		g := s.Guards[w.Name]
		fmt.Fprintf(&b, "      - targets: [%q]\n        labels:\n", strings.TrimPrefix(g.AdminURL, "http://"))
		fmt.Fprintf(&b, "          __meta_kubernetes_namespace: %q\n", Namespace)
		fmt.Fprintf(&b, "          __meta_kubernetes_pod_name: %q\n", w.Name+"-0")
		b.WriteString("          __meta_kubernetes_pod_container_name: \"breakwater-guard\"\n")
		b.WriteString("          __meta_kubernetes_pod_container_port_name: \"guard-admin\"\n")
		fmt.Fprintf(&b, "          __meta_kubernetes_pod_annotation_breakwater_dev_injected: %q\n", w.Name)
	}
	b.WriteString("    relabel_configs:\n")
	for _, line := range strings.Split(strings.TrimRight(promsource.GuardRelabelConfigs, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	fmt.Fprintf(&b, "  - job_name: breakwater-manager\n    static_configs:\n      - targets: [%q]\n",
		strings.TrimPrefix(s.ManagerURL, "http://"))
	return b.String()
}

func (s *System) startManager(ctx context.Context) error {
	probe, err := localproc.FreeAddr()
	if err != nil {
		return err
	}
	wh := s.Env.Webhook()
	t := s.opts.Timing
	s.managerProbe = "http://" + probe
	s.managerArgs = []string{
		"--kubeconfig=" + s.Kubeconfig, "--namespace=default", "--leader-elect=false",
		"--metrics-bind-address=" + strings.TrimPrefix(s.ManagerURL, "http://"), "--metrics-secure=false",
		"--health-probe-bind-address=" + probe,
		"--webhook-cert-management=external", "--webhook-bind-host=" + wh.LocalServingHost,
		fmt.Sprintf("--webhook-port=%d", wh.LocalServingPort), "--webhook-cert-dir=" + wh.LocalServingCertDir,
		"--guard-image=ghcr.io/breakwater-dev/breakwater:demo",
		"--prometheus-url=" + s.PromURL,
		"--evaluation-interval=" + t.Evaluation.String(),
		"--quota-usage-window=" + t.QuotaWindow.String(),
		"--quota-min-dwell=" + t.QuotaMinDwell.String(),
		"--scale-cooldown=" + t.ScaleCooldn.String(),
		"--aws-sources=true",
		"--aws-servicequotas-endpoint=" + s.aws.URL(), "--aws-cloudwatch-endpoint=" + s.aws.URL(),
		"--aws-bedrock-endpoint=" + s.aws.URL(),
		// Shared admission; longer than production's 10ms timeout, since this machine runs
		// everything at once.
		"--admission-store-addresses=" + s.Redis.Addr, "--admission-store-timeout=100ms",
	}
	s.managerEnv = []string{"AWS_ACCESS_KEY_ID=" + accessKeyID, "AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
		"AWS_REGION=" + PrimaryTarget, "AWS_EC2_METADATA_DISABLED=true"}
	return s.StartManager(ctx)
}

// StartManager starts the manager process (again, after StopManager) and waits until it is ready.
func (s *System) StartManager(ctx context.Context) error {
	p, err := s.procs.Start("manager", s.managerEnv, s.bin("manager"), s.managerArgs...)
	if err != nil {
		return err
	}
	s.managerProc = p
	return localproc.WaitHTTP(ctx, p, s.managerProbe+"/readyz", time.Minute)
}

// StopManager stops the manager process gracefully, as a rollout or a node drain would.
func (s *System) StopManager() {
	if s.managerProc != nil {
		s.managerProc.Stop(30 * time.Second)
	}
}

// ManagerLog is the manager's log file.
func (s *System) ManagerLog() string { return filepath.Join(s.opts.WorkDir, "logs", "manager.log") }

func (s *System) apply(ctx context.Context) error {
	t := s.opts.Timing
	data := map[string]any{
		"Namespace": Namespace, "ModelID": ModelID,
		"EastURL": s.simURLs["east"], "WestURL": s.simURLs["west"],
		"OpenAIURL": s.simURLs["openai"], "SearchURL": s.simURLs["search"],
		"TokensPerMinute": s.opts.TokensPerMinute,
		"FailoverWindow":  t.FailoverWindow.String(), "ShiftCooldown": t.ShiftCooldown.String(), "StablePeriod": t.Stable.String(),
		"Workloads": Workloads,
	}
	files, err := manifestFiles.ReadDir("manifests")
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })
	var rendered bytes.Buffer
	for _, f := range files {
		raw, err := manifestFiles.ReadFile("manifests/" + f.Name())
		if err != nil {
			return err
		}
		tpl, err := template.New(f.Name()).Parse(string(raw))
		if err != nil {
			return err
		}
		if err := tpl.Execute(&rendered, data); err != nil {
			return err
		}
		rendered.WriteString("\n---\n")
	}
	if err := os.WriteFile(filepath.Join(s.opts.WorkDir, "demo-manifests.yaml"), rendered.Bytes(), 0o644); err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&rendered, 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := s.Client.Create(ctx, &u); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	// The guards' configs exist once every workload is Ready.
	return s.waitFor(ctx, time.Minute, "every GenAIWorkload Ready", func() (bool, error) {
		for _, w := range Workloads {
			var gw breakwaterv1alpha1.GenAIWorkload
			if err := s.Client.Get(ctx, ctrlclient.ObjectKey{Namespace: Namespace, Name: w.Name}, &gw); err != nil {
				return false, err
			}
			if !isTrue(gw.Status.Conditions, breakwaterv1alpha1.ConditionReady) {
				return false, nil
			}
		}
		return true, nil
	})
}

// createPods plays the ReplicaSet controller once: each Deployment gets spec.replicas pods, created
// through the API server so the webhook injects them. SyncPods keeps them matched afterwards.
func (s *System) createPods(ctx context.Context) error {
	if err := s.SyncPods(ctx); err != nil {
		return err
	}
	for _, w := range Workloads {
		pods, err := s.pods(ctx, w.Name)
		if err != nil {
			return err
		}
		if len(pods) == 0 || pods[0].Annotations[sidecar.InjectedAnnotation] != w.Name {
			return fmt.Errorf("the pods of %s were not injected with the guard", w.Name)
		}
	}
	return nil
}

func (s *System) pods(ctx context.Context, workload string) ([]corev1.Pod, error) {
	list, err := s.Kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + workload})
	if err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// SyncPods makes each Deployment's pod count match its spec.replicas, as the ReplicaSet controller
// would (it does not run here), and returns after one pass.
func (s *System) SyncPods(ctx context.Context) error {
	for _, w := range Workloads {
		dep, err := s.Kube.AppsV1().Deployments(Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := int(ptr.Deref(dep.Spec.Replicas, 1))
		pods, err := s.pods(ctx, w.Name)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, p := range pods {
			have[p.Name] = true
		}
		for i := 0; i < want; i++ {
			name := fmt.Sprintf("%s-%d", w.Name, i)
			if have[name] {
				continue
			}
			if _, err := s.Kube.CoreV1().Pods(Namespace).Create(ctx, podFor(dep, name), metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("creating pod %s: %w", name, err)
			}
		}
		for _, p := range pods {
			var i int
			if _, err := fmt.Sscanf(strings.TrimPrefix(p.Name, w.Name+"-"), "%d", &i); err == nil && i < want {
				continue
			}
			if err := s.Kube.CoreV1().Pods(Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("deleting pod %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

func podFor(dep *appsv1.Deployment, name string) *corev1.Pod {
	t := dep.Spec.Template
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dep.Namespace, Labels: t.Labels, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID}}},
		Spec: *t.Spec.DeepCopy(),
	}
}

// startGuards runs each workload's guard with the flags the webhook gave the injected container,
// except the listen addresses (every guard shares this machine's loopback), plus a kubeconfig
// holding a token of the workload's ServiceAccount: the guard reads its ConfigMap with exactly the
// RBAC the manager granted that workload.
func (s *System) startGuards(ctx context.Context) error {
	for _, w := range Workloads {
		pods, err := s.pods(ctx, w.Name)
		if err != nil {
			return err
		}
		var args []string
		for _, c := range pods[0].Spec.InitContainers {
			if c.Name == sidecar.ContainerName {
				args = c.Args
			}
		}
		if args == nil {
			return fmt.Errorf("pod %s has no %s container", pods[0].Name, sidecar.ContainerName)
		}
		g := s.Guards[w.Name]
		if g.Kubeconfig, err = s.ServiceAccountKubeconfig(ctx, pods[0].Spec.ServiceAccountName); err != nil {
			return err
		}
		var run []string
		for _, a := range args {
			switch {
			case strings.HasPrefix(a, "--listen="):
				a = "--listen=" + strings.TrimPrefix(g.URL, "http://")
			case strings.HasPrefix(a, "--admin-listen="):
				a = "--admin-listen=" + strings.TrimPrefix(g.AdminURL, "http://")
			}
			run = append(run, a)
		}
		run = append(run, "--kubeconfig="+g.Kubeconfig, "--shutdown-timeout=5s")
		// What IRSA or EKS Pod Identity would give the pod: credentials the simulator accepts.
		env := []string{"AWS_ACCESS_KEY_ID=" + accessKeyID, "AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
			"AWS_REGION=" + PrimaryTarget, "AWS_EC2_METADATA_DISABLED=true"}
		if g.proc, err = s.procs.Start("guard-"+w.Name, env, s.bin("guard"), run...); err != nil {
			return err
		}
	}
	for _, w := range Workloads {
		if err := localproc.WaitHTTP(ctx, s.Guards[w.Name].proc, s.Guards[w.Name].AdminURL+"/readyz", 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// ServiceAccountKubeconfig writes a kubeconfig holding a one-hour token of the ServiceAccount, as
// the kubelet would project into the pod.
func (s *System) ServiceAccountKubeconfig(ctx context.Context, serviceAccount string) (string, error) {
	tr, err := s.Kube.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token of ServiceAccount %s: %w", serviceAccount, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["demo"] = &clientcmdapi.Cluster{Server: s.Env.Config.Host, CertificateAuthorityData: s.Env.Config.CAData}
	cfg.AuthInfos[serviceAccount] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["demo"] = &clientcmdapi.Context{Cluster: "demo", AuthInfo: serviceAccount, Namespace: Namespace}
	cfg.CurrentContext = "demo"
	path := filepath.Join(s.opts.WorkDir, "sa-"+serviceAccount+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// waitFor polls cond every 250ms until it holds, fails, or timeout passes.
func (s *System) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		lastErr = err
		if time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("%s did not happen within %s: %w", what, timeout, lastErr)
			}
			return fmt.Errorf("%s did not happen within %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func isTrue(conds []metav1.Condition, t string) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}
