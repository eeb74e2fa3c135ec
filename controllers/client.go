package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// getOptional reads an object that may not exist (yet).
func getOptional(ctx context.Context, c client.Reader, namespace, name string, obj client.Object) (bool, error) {
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %T %s/%s: %w", obj, namespace, name, err)
	}
	return true, nil
}

// ignoreNotFound drops the error of reading an object that is gone (nothing to reconcile: what it
// owns goes with it) and gives any other error its context.
func ignoreNotFound(err error, kind string, req ctrl.Request) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("reading %s %s: %w", kind, req.NamespacedName, err)
}
