package controllers_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/render"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/test/redistest"
)

// With an admission store, the manager copies its Secret next to each workload, renders the
// store and the quota's per-minute limits into the guard config with the fleet's guard count, and
// shows in the TokenQuota's status what the store holds: the learned limit after a provider
// throttle (with an Event), the last minute's spend, and whether the store answers.
func TestTokenQuotaSharedAdmission(t *testing.T) {
	const password = "s3cret-admission"
	srv := redistest.StartServer(t, "--requirepass", password)
	l := startLoopEnvWith(t, func(l *loopEnv) {
		l.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "breakwater-system"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admission-store", Namespace: "breakwater-system"},
				Data: map[string][]byte{controllers.AdmissionSecretPasswordKey: []byte(password)}})
		l.admission = controllers.AdmissionStoreOptions{Addresses: []string{srv.Addr}, SecretName: "admission-store",
			SecretNamespace: "breakwater-system", Timeout: 20 * time.Millisecond}
	})
	ctx := context.Background()
	const ns = "admission"
	l.quotaNamespace(ns, bw.ModeEnforce)
	q, err := l.quota(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Limits.RequestsPerMinute = ptr[int64](100)
	if err := l.c.Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	l.workload(ns, "app", bw.CriticalityStandard, 2, 1)
	for _, name := range []string{"app-1", "app-2"} {
		l.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{sidecar.WorkloadLabel: "app"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}})
	}

	// The guards' side: spend and a provider throttle, through the same store.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr}, Password: password})
	t.Cleanup(func() { rdb.Close() })
	store := admission.NewStore(rdb, time.Second, nil)
	aq := []admission.Quota{{Key: ns + "/budget", Namespace: ns, TokensPerMinute: 1000, RequestsPerMinute: 100,
		ShedPercent: 90, HardPercent: 100, CriticalReservePercent: 10}}
	if d, err := store.Reserve(ctx, admission.Critical, 400, aq); err != nil || !d.Admitted {
		t.Fatalf("reserve: %+v %v", d, err)
	}
	if _, err := store.Throttled(ctx, aq); err != nil {
		t.Fatal(err)
	}

	var got *bw.TokenQuota
	eventually(t, "the quota's admission status", func(ctx context.Context) (bool, error) {
		var err error
		if got, err = l.quota(ctx, ns); err != nil {
			return false, err
		}
		a := got.Status.Admission
		return a != nil && a.Guards == 2 && a.WindowTokens != nil && *a.WindowTokens == 400 &&
			apimeta.IsStatusConditionTrue(got.Status.Conditions, bw.ConditionAdmissionStoreAvailable), nil
	})
	a := got.Status.Admission
	learned, _ := strconv.ParseFloat(a.LearnedPercent, 64)
	if a.Enforcement != bw.EnforcementShared || learned < 35 || learned > 37 || a.LearnedTokensPerMinute == nil ||
		*a.LearnedTokensPerMinute < 350 || *a.LearnedTokensPerMinute > 370 || a.LearnedRequestsPerMinute == nil {
		t.Errorf("status.admission = %+v, want shared with about 36 %% learned (90 %% of the 40 %% used)", a)
	}
	if n := l.countEvents(ns, "budget", bw.ReasonLearnedLimitLowered, "LearnLimit"); n != 1 {
		t.Errorf("%d %s Events, want 1", n, bw.ReasonLearnedLimitLowered)
	}

	// Usage held at the learned limit by admission is the quota used up: 350 tokens/min is 35 % of
	// the configured 1000 but above the shed threshold of the learned 360.
	l.usage.set(ns, 350)
	eventually(t, "the quota Shedding against its learned limit", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		if err != nil {
			return false, err
		}
		return q.Status.State == bw.QuotaShedding && q.Status.EffectiveTokensPerMinute != nil && *q.Status.EffectiveTokensPerMinute == 1000, nil
	})

	// The guard config names the store, the copied Secret's file and the fleet's guard count.
	var cfg *guardconfig.Config
	eventually(t, "the guard config with two guards", func(ctx context.Context) (bool, error) {
		cm := &corev1.ConfigMap{}
		if err := l.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.ConfigMapName("app")}, cm); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		var err error
		if cfg, err = guardconfig.Parse([]byte(cm.Data[guardconfig.ConfigMapKey])); err != nil {
			return false, err
		}
		return len(cfg.Admission.Quotas) == 1 && cfg.Admission.Quotas[0].Guards == 2, nil
	})
	wantQuota := guardconfig.AdmissionQuota{Namespace: ns, Name: "budget", Endpoints: []string{"claude-haiku"},
		Enforcement: guardconfig.EnforcementShared, TokensPerMinute: 1000, RequestsPerMinute: 100,
		ShedPercent: 90, HardPercent: 100, CriticalReservePercent: 10, Guards: 2}
	if st := cfg.Admission.Store; st == nil || len(st.Addresses) != 1 || st.Addresses[0] != srv.Addr ||
		st.PasswordFile != sidecar.SecretFile(sidecar.AdmissionSecretName("app"), controllers.AdmissionSecretPasswordKey) ||
		cfg.Admission.Quotas[0].Namespace != wantQuota.Namespace || cfg.Admission.Quotas[0].RequestsPerMinute != 100 ||
		cfg.Admission.Quotas[0].CriticalReservePercent != 10 || cfg.Admission.Quotas[0].Enforcement != wantQuota.Enforcement {
		t.Errorf("guard admission config = %+v, store %+v; want %+v", cfg.Admission, cfg.Admission.Store, wantQuota)
	}
	sec := &corev1.Secret{}
	if err := l.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: sidecar.AdmissionSecretName("app")}, sec); err != nil {
		t.Fatal(err)
	}
	if string(sec.Data[controllers.AdmissionSecretPasswordKey]) != password || len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Name != "app" {
		t.Errorf("copied Secret: keys %d, owners %+v", len(sec.Data), sec.OwnerReferences)
	}

	// The store gone: the condition says so, and what was learned stays shown.
	srv.Kill()
	eventually(t, "AdmissionStoreAvailable False", func(ctx context.Context) (bool, error) {
		q, err := l.quota(ctx, ns)
		if err != nil {
			return false, err
		}
		c := apimeta.FindStatusCondition(q.Status.Conditions, bw.ConditionAdmissionStoreAvailable)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == bw.ReasonStoreUnavailable &&
			q.Status.Admission.LearnedPercent == a.LearnedPercent, nil
	})
}
