// Package configsource feeds guard config documents to a loader, from a file (polled, so that
// the atomic symlink swap of a mounted ConfigMap volume is seen) or straight from a ConfigMap
// through the Kubernetes API (get + watch of one named object, so that a Role limited by
// resourceNames to that ConfigMap is all the guard needs).
//
// Both sources call load only when the document's bytes change, keep running after a refused
// document (the guard keeps its last good config) and never log document content.
package configsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// LoadFunc applies a document; an error means it was refused (the guard counts and logs it).
type LoadFunc func(data []byte) error

// dedupe calls load only for bytes that differ from the last ones seen.
type dedupe struct {
	last []byte
	seen bool
	load LoadFunc
}

func (d *dedupe) apply(data []byte) {
	if d.seen && bytes.Equal(d.last, data) {
		return
	}
	d.last, d.seen = append([]byte(nil), data...), true
	_ = d.load(data) // the loader logs and counts refusals itself
}

// WatchFile loads path now and again whenever its content changes, checking every interval,
// until ctx ends. A missing or unreadable file is logged and retried.
func WatchFile(ctx context.Context, path string, interval time.Duration, load LoadFunc, log *slog.Logger) error {
	d := &dedupe{load: load}
	var lastErr string
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		data, err := os.ReadFile(path)
		switch {
		case err != nil && err.Error() != lastErr:
			log.Error("Could not read the guard config file", "path", path, "error", err)
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
			d.apply(data)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// WatchConfigMap loads the guard.json key of the ConfigMap namespace/name and every change to
// it, until ctx ends. It gets the object, then watches it by name from that resourceVersion, and
// gets it again whenever the watch ends or expires. A missing ConfigMap or key is logged and
// waited for; a deleted one leaves the last good config in force.
func WatchConfigMap(ctx context.Context, cms ConfigMaps, namespace, name string, load LoadFunc, log *slog.Logger) error {
	d := &dedupe{load: load}
	backoff := time.Second
	wait := func() bool {
		t := time.NewTimer(backoff + time.Duration(rand.Int64N(int64(backoff/2+1))))
		defer t.Stop()
		backoff = min(2*backoff, 30*time.Second)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	apply := func(cm *corev1.ConfigMap) {
		data, ok := cm.Data[guardconfig.ConfigMapKey]
		if !ok {
			log.Error("The guard ConfigMap has no "+guardconfig.ConfigMapKey+" key", "namespace", namespace, "name", name)
			return
		}
		d.apply([]byte(data))
	}
	for ctx.Err() == nil {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Error("Could not get the guard ConfigMap", "namespace", namespace, "name", name,
				"notFound", apierrors.IsNotFound(err), "error", err)
			if !wait() {
				break
			}
			continue
		}
		apply(cm)
		backoff = time.Second
		if err := watchOnce(ctx, cms, namespace, name, cm.ResourceVersion, apply, log); err != nil && ctx.Err() == nil {
			log.Info("Watch of the guard ConfigMap ended, getting it again", "namespace", namespace, "name", name, "reason", err.Error())
			if !wait() {
				break
			}
		}
	}
	return nil
}

// errGone says the watch's resourceVersion expired: get the object again.
var errGone = errors.New("resource version expired")

func watchOnce(ctx context.Context, cms ConfigMaps, namespace, name, rv string, apply func(*corev1.ConfigMap), log *slog.Logger) error {
	timeout := int64(300 + rand.IntN(300)) // spread re-watches of many guards over time
	w, err := cms.Watch(ctx, metav1.ListOptions{
		FieldSelector:       fields.OneTermEqualSelector("metadata.name", name).String(),
		ResourceVersion:     rv,
		AllowWatchBookmarks: true,
		TimeoutSeconds:      &timeout,
	})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return errors.New("watch closed by the server")
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
					apply(cm)
				}
			case watch.Deleted:
				log.Warn("The guard ConfigMap was deleted; keeping the last good config", "namespace", namespace, "name", name)
			case watch.Error:
				if st := apierrors.FromObject(ev.Object); apierrors.IsGone(st) || apierrors.IsResourceExpired(st) {
					return errGone
				}
				return fmt.Errorf("watch error: %w", apierrors.FromObject(ev.Object))
			}
		}
	}
}
