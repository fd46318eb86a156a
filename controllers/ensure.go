package controllers

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// ensure makes the live object carry every field that desired sets: it creates
// the object when it is missing, and otherwise patches only the fields that
// differ, leaving alone what the API server defaulted and what others added
// (labels, annotations, fields desired does not set). desired must carry its
// labels; ensure adds the controller owner reference. On return desired
// holds the object as the API server has it.
func (r *ChatClusterReconciler) ensure(ctx context.Context, cc *chatv1.ChatCluster, desired client.Object) error {
	if err := controllerutil.SetControllerReference(cc, desired, r.Scheme); err != nil {
		return err
	}
	kind := r.kindOf(desired)
	live := desired.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), live)
	if apierrors.IsNotFound(err) {
		if err := r.Create(ctx, desired); err != nil {
			return fmt.Errorf("create %s %s: %w", kind, desired.GetName(), err)
		}
		r.Recorder.Eventf(cc, nil, "Normal", "Created", "Create", "Created %s %s", kind, desired.GetName())
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kind, desired.GetName(), err)
	}

	merged, err := overlay(live, desired)
	if err != nil {
		return fmt.Errorf("merge %s %s: %w", kind, desired.GetName(), err)
	}
	if err := controllerutil.SetControllerReference(cc, merged, r.Scheme); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(live, merged) {
		return setTo(desired, live)
	}
	if err := r.Patch(ctx, merged, client.MergeFrom(live)); err != nil {
		return fmt.Errorf("patch %s %s: %w", kind, desired.GetName(), err)
	}
	r.Recorder.Eventf(cc, nil, "Normal", "Updated", "Update", "Updated %s %s to match the ChatCluster", kind, desired.GetName())
	return setTo(desired, merged)
}

// setTo overwrites dst with src, two objects of the same type.
func setTo(dst, src client.Object) error {
	d, s := reflect.ValueOf(dst), reflect.ValueOf(src)
	if d.Type() != s.Type() {
		return fmt.Errorf("cannot set %T to %T", dst, src)
	}
	d.Elem().Set(s.Elem())
	return nil
}

// ensureAbsent deletes obj (only its namespace and name are read) if it
// exists and this ChatCluster controls it.
func (r *ChatClusterReconciler) ensureAbsent(ctx context.Context, cc *chatv1.ChatCluster, obj client.Object) error {
	kind := r.kindOf(obj)
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, cc) {
		return nil
	}
	if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %s %s: %w", kind, obj.GetName(), err)
	}
	r.Recorder.Eventf(cc, nil, "Normal", "Deleted", "Delete", "Deleted %s %s, no longer wanted", kind, obj.GetName())
	return nil
}

func (r *ChatClusterReconciler) kindOf(obj client.Object) string {
	gvk, err := apiutil.GVKForObject(obj, r.Scheme)
	if err != nil {
		return reflect.TypeOf(obj).Elem().Name()
	}
	return gvk.Kind
}

// overlay returns a copy of live with every field of desired written over it.
// Of desired's metadata only labels and annotations count, and its status is
// ignored. Maps merge key by key; a list merges item by item when both lists
// have the same length and their items the same names, and is replaced by
// desired's otherwise, so that fields the API server defaults inside list
// items (ports' protocol, containers' terminationMessagePath) do not count as
// differences.
func overlay(live, desired client.Object) (client.Object, error) {
	liveMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return nil, err
	}
	want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, err
	}
	delete(want, "status")
	meta := map[string]any{}
	if labels := desired.GetLabels(); len(labels) > 0 {
		meta["labels"] = want["metadata"].(map[string]any)["labels"]
	}
	if annotations := desired.GetAnnotations(); len(annotations) > 0 {
		meta["annotations"] = want["metadata"].(map[string]any)["annotations"]
	}
	want["metadata"] = meta

	merged := live.DeepCopyObject().(client.Object)
	mergedMap := mergeValue(liveMap, want).(map[string]any)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mergedMap, merged); err != nil {
		return nil, err
	}
	return merged, nil
}

func mergeValue(live, want any) any {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return w
		}
		out := make(map[string]any, len(l)+len(w))
		for k, v := range l {
			out[k] = v
		}
		for k, v := range w {
			out[k] = mergeValue(l[k], v)
		}
		return out
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return w
		}
		out := make([]any, len(w))
		for i := range w {
			if nameOf(l[i]) != nameOf(w[i]) {
				return w
			}
			out[i] = mergeValue(l[i], w[i])
		}
		return out
	default:
		return want
	}
}

func nameOf(item any) any {
	if m, ok := item.(map[string]any); ok {
		return m["name"]
	}
	return nil
}
