package configsource

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// ConfigMaps is the part of the Kubernetes API the guard uses: get and watch the ConfigMaps of one
// namespace. client-go's typed client (clientset.CoreV1().ConfigMaps(ns)) satisfies it;
// NewConfigMaps builds the guard's own.
type ConfigMaps interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// configMaps is a REST client that knows core/v1 alone. client-go's clientset would do the same
// job, but linking it registers every API group of Kubernetes at start-up, which costs each guard
// (one per application pod) about 8 MiB of resident memory for types it never sees.
type configMaps struct {
	client    rest.Interface
	namespace string
	params    runtime.ParameterCodec
}

// NewConfigMaps returns a client for the ConfigMaps of namespace.
func NewConfigMaps(cfg *rest.Config, namespace string) (ConfigMaps, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, err
	}
	return &configMaps{client: client, namespace: namespace, params: runtime.NewParameterCodec(scheme)}, nil
}

func (c *configMaps) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	err := c.client.Get().Namespace(c.namespace).Resource("configmaps").Name(name).
		VersionedParams(&opts, c.params).Do(ctx).Into(cm)
	return cm, err
}

func (c *configMaps) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	opts.Watch = true
	return c.client.Get().Namespace(c.namespace).Resource("configmaps").
		VersionedParams(&opts, c.params).Timeout(timeout).Watch(ctx)
}
