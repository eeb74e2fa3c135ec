package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

// Keys of the admission store's Secret (in the manager's namespace): the AUTH password and the CA
// bundle that verifies the store's TLS certificate. Both are optional.
const (
	AdmissionSecretPasswordKey = "password"
	AdmissionSecretCAKey       = "ca.crt"
)

// AdmissionStoreOptions is the Redis that holds the fleet's shared admission budgets, as manager
// flags give it. An empty Addresses means no store: quotas are enforced locally.
type AdmissionStoreOptions struct {
	Addresses  []string
	MasterName string
	Username   string
	// SecretName is a Secret in SecretNamespace (the manager's) with the keys above; the manager
	// copies it next to each workload, where the webhook mounts it into the guard.
	SecretName, SecretNamespace string
	TLS                         bool
	ServerName                  string
	Timeout                     time.Duration
}

// Enabled reports whether a store is configured.
func (o AdmissionStoreOptions) Enabled() bool { return len(o.Addresses) > 0 }

// admissionStore is the manager's side of the store: the Secret's content, the guards' view of the
// store for rendering, and a client of its own to read each quota's standing for status.
type admissionStore struct {
	opts AdmissionStoreOptions

	mu      sync.Mutex
	version string // hash of the settings and Secret the client was built with
	client  redis.UniversalClient
	store   *admission.Store
	// mirrored remembers the Secret content applied per workload, to skip unchanged applies.
	mirrored map[string]string
}

func newAdmissionStore(o AdmissionStoreOptions) *admissionStore {
	if !o.Enabled() {
		return nil
	}
	if o.Timeout <= 0 {
		o.Timeout = guardconfig.DefaultAdmissionTimeout
	}
	return &admissionStore{opts: o, mirrored: map[string]string{}}
}

// secret reads the store's Secret; a store without one has none (nil data, no error).
func (s *admissionStore) secret(ctx context.Context, c client.Reader) (map[string][]byte, error) {
	if s.opts.SecretName == "" {
		return nil, nil
	}
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: s.opts.SecretNamespace, Name: s.opts.SecretName}, &sec); err != nil {
		return nil, fmt.Errorf("reading the admission store Secret %s/%s: %w", s.opts.SecretNamespace, s.opts.SecretName, err)
	}
	out := map[string][]byte{}
	for _, k := range []string{AdmissionSecretPasswordKey, AdmissionSecretCAKey} {
		if v, ok := sec.Data[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// guardStore is the store as a guard of workload sees it: the mirrored Secret's files.
func (s *admissionStore) guardStore(workload string, data map[string][]byte) *guardconfig.AdmissionStore {
	g := &guardconfig.AdmissionStore{
		Addresses: s.opts.Addresses, MasterName: s.opts.MasterName, Username: s.opts.Username,
		TLS: s.opts.TLS, ServerName: s.opts.ServerName, Timeout: guardconfig.Duration(s.opts.Timeout),
	}
	name := sidecar.AdmissionSecretName(workload)
	if _, ok := data[AdmissionSecretPasswordKey]; ok {
		g.PasswordFile = sidecar.SecretFile(name, AdmissionSecretPasswordKey)
	}
	if _, ok := data[AdmissionSecretCAKey]; ok {
		g.CAFile = sidecar.SecretFile(name, AdmissionSecretCAKey)
	}
	return g
}

// mirror applies the Secret's keys next to workload w, owned by it (the garbage collector removes
// it with the workload). The manager may create and patch Secrets but not read them outside its
// namespace, so it applies without reading and remembers what it applied.
func (s *admissionStore) mirror(ctx context.Context, c client.Client, w *breakwaterv1alpha1.GenAIWorkload, data map[string][]byte) error {
	if len(data) == 0 {
		return nil
	}
	name := sidecar.AdmissionSecretName(w.Name)
	sum := sha256.New()
	for _, k := range []string{AdmissionSecretPasswordKey, AdmissionSecretCAKey} {
		fmt.Fprintf(sum, "%s=%x;", k, data[k])
	}
	fmt.Fprint(sum, w.UID)
	version := hex.EncodeToString(sum.Sum(nil))
	key := w.Namespace + "/" + w.Name
	s.mu.Lock()
	same := s.mirrored[key] == version
	s.mu.Unlock()
	if same {
		return nil
	}
	owner := metav1ac.OwnerReference().
		WithAPIVersion(breakwaterv1alpha1.GroupVersion.String()).WithKind("GenAIWorkload").
		WithName(w.Name).WithUID(w.UID).WithController(true).WithBlockOwnerDeletion(true)
	ac := corev1ac.Secret(name, w.Namespace).WithType(corev1.SecretTypeOpaque).WithOwnerReferences(owner).
		WithLabels(map[string]string{LabelManagedBy: ManagedByValue, LabelWorkload: w.Name}).WithData(data)
	if err := c.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying the admission store Secret %s/%s: %w", w.Namespace, name, err)
	}
	s.mu.Lock()
	s.mirrored[key] = version
	s.mu.Unlock()
	return nil
}

// forget drops what was mirrored for a deleted workload.
func (s *admissionStore) forget(namespace, name string) {
	s.mu.Lock()
	delete(s.mirrored, namespace+"/"+name)
	s.mu.Unlock()
}

// reader returns the manager's own store client, rebuilt when the Secret changes.
func (s *admissionStore) reader(ctx context.Context, c client.Reader) (*admission.Store, error) {
	data, err := s.secret(ctx, c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%x|%x", data[AdmissionSecretPasswordKey], data[AdmissionSecretCAKey]))
	version := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil && s.version == version {
		return s.store, nil
	}
	o := &redis.UniversalOptions{
		Addrs: s.opts.Addresses, MasterName: s.opts.MasterName, Username: s.opts.Username,
		Password: string(data[AdmissionSecretPasswordKey]), ContextTimeoutEnabled: true, MaxRetries: 1,
	}
	if s.opts.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.opts.ServerName}
		if ca := data[AdmissionSecretCAKey]; len(ca) > 0 {
			o.TLSConfig.RootCAs = x509.NewCertPool()
			if !o.TLSConfig.RootCAs.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("the admission store Secret's %s holds no PEM certificate", AdmissionSecretCAKey)
			}
		}
	}
	if s.client != nil {
		_ = s.client.Close()
	}
	s.client = redis.NewUniversalClient(o)
	// The manager is off the request path: a status read may take longer than a guard's reservation.
	s.store = admission.NewStore(s.client, max(s.opts.Timeout, time.Second), nil)
	s.version = version
	return s.store, nil
}
