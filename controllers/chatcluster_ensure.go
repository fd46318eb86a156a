package controllers

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/applyconfigurations"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// FieldOwner is the field manager under which the operator applies every
// object it owns.
const FieldOwner = "chatcluster-operator"

// legacyFieldManagers are the field managers of writes that were not
// applies: those of operator versions that merged instead of applying, under
// the manager binary's name, which the API server takes from the user agent,
// and the operator's own creates (the generated Secret). The fields they own
// are handed over to FieldOwner's apply before the first one, so that what
// they set and the operator no longer wants is removed.
var legacyFieldManagers = sets.New("manager", FieldOwner)

// typeConverters turn objects into typed values for comparing them field by
// field: the built-in kinds with their real schema (list keys, atomic
// fields), anything else (a custom resource) with a schema deduced from the
// object.
var (
	builtinTypes = applyconfigurations.NewTypeConverter(clientgoscheme.Scheme)
	deducedTypes = managedfields.NewDeducedTypeConverter()
)

// ensure makes the live object desired plus whatever others own: it applies
// desired with server-side apply, as FieldOwner and forcing ownership, so
// the API server creates the object when it is missing, sets every field
// desired sets, and removes the fields the operator set before and desired
// no longer has. Fields others set (labels, annotations, a replica count)
// and fields the API server defaults are left alone. ensure sends nothing
// when the fields the operator owns already hold desired's values, and
// records an event only when the object really changed. desired must carry
// its labels; ensure adds the controller owner reference. On return desired
// holds the object as the API server has it.
func (r *ChatClusterReconciler) ensure(ctx context.Context, cc *chatv1.ChatCluster, desired client.Object) error {
	if err := controllerutil.SetControllerReference(cc, desired, r.Scheme); err != nil {
		return err
	}
	gvk, err := apiutil.GVKForObject(desired, r.Scheme)
	if err != nil {
		return err
	}
	kind, name := gvk.Kind, desired.GetName()
	payload, err := applyPayload(desired, gvk.GroupVersion().String(), gvk.Kind)
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, name, err)
	}

	live, err := r.live(ctx, desired)
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	if live != nil {
		if migrated, err := r.adoptLegacyFields(ctx, live); err != nil {
			return fmt.Errorf("hand %s %s over to server-side apply: %w", kind, name, err)
		} else if !migrated && upToDate(live, payload, gvk.GroupVersion().String(), gvk.Kind) {
			return setTo(desired, live)
		}
	}

	applied := &unstructured.Unstructured{Object: payload}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(applied),
		client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, name, err)
	}
	if err := fromMap(applied.Object, desired); err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, name, err)
	}
	switch {
	case live == nil:
		r.Recorder.Eventf(cc, nil, "Normal", "Created", "Create", "Created %s %s", kind, name)
	case live.GetResourceVersion() != desired.GetResourceVersion():
		r.Recorder.Eventf(cc, nil, "Normal", "Updated", "Update", "Updated %s %s to match the ChatCluster", kind, name)
	}
	return nil
}

// live reads the object desired names, or nil when it does not exist. The
// cache answers first; a miss is checked with the API server, since the
// cache holds only objects labelled as the operator's and may lag.
func (r *ChatClusterReconciler) live(ctx context.Context, desired client.Object) (client.Object, error) {
	live := desired.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), live)
	if apierrors.IsNotFound(err) {
		err = r.apiReader().Get(ctx, client.ObjectKeyFromObject(desired), live)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return live, nil
}

// adoptLegacyFields hands the fields written by legacyFieldManagers (an
// operator version that merged, the operator's own create) over to
// FieldOwner's apply, once, before the first apply: from then on fields the
// operator no longer sets are removed like any other. It reports whether it
// changed the object's field ownership.
func (r *ChatClusterReconciler) adoptLegacyFields(ctx context.Context, live client.Object) (bool, error) {
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply {
			return false, nil
		}
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, legacyFieldManagers, FieldOwner)
	if err != nil || patch == nil {
		return false, err
	}
	// The patch replaces resourceVersion: a stale live object gets a conflict.
	return true, r.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch))
}

// applyPayload is desired as sent to server-side apply: its kind, its name,
// namespace, labels, annotations and owner references, and its content
// without status.
func applyPayload(desired client.Object, apiVersion, kind string) (map[string]any, error) {
	obj, err := toMap(desired)
	if err != nil {
		return nil, err
	}
	delete(obj, "status")
	if _, ok := desired.(*unstructured.Unstructured); !ok {
		dropZeroStructs(reflect.ValueOf(desired), obj)
	}
	meta := map[string]any{"name": desired.GetName()}
	if ns := desired.GetNamespace(); ns != "" {
		meta["namespace"] = ns
	}
	if m, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range []string{"labels", "annotations", "ownerReferences"} {
			if v, ok := m[k]; ok {
				meta[k] = v
			}
		}
	}
	obj["metadata"] = meta
	obj["apiVersion"], obj["kind"] = apiVersion, kind
	return obj, nil
}

// dropZeroStructs removes from u, the JSON form of v, the empty objects that
// stand for struct fields v leaves at their zero value (a Deployment's
// strategy, a container's resources): applying one would claim the field
// and compare it with what the API server defaulted inside. An empty object
// that v sets on purpose, through a pointer (an emptyDir volume), stays, and
// so do a StatefulSet's claim templates.
func dropZeroStructs(v reflect.Value, u any) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		m, ok := u.(map[string]any)
		if !ok {
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
				dropZeroStructs(v.Field(i), m)
				continue
			}
			if name == "" {
				name = f.Name
			}
			val, ok := m[name]
			if !ok || name == "volumeClaimTemplates" {
				// A StatefulSet's claim templates are copied from the live
				// object, which the API server compares whole.
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.IsZero() {
				if obj, ok := val.(map[string]any); ok && len(obj) == 0 {
					delete(m, name)
				}
				continue
			}
			dropZeroStructs(fv, val)
		}
	case reflect.Slice, reflect.Array:
		l, ok := u.([]any)
		if !ok {
			return
		}
		for i := 0; i < v.Len() && i < len(l); i++ {
			dropZeroStructs(v.Index(i), l[i])
		}
	case reflect.Map:
		m, ok := u.(map[string]any)
		if !ok || v.Type().Key().Kind() != reflect.String {
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			dropZeroStructs(iter.Value(), m[iter.Key().String()])
		}
	}
}

// upToDate reports whether the fields FieldOwner owns in live are exactly
// the fields of payload, with the same values: applying payload again would
// change nothing. Any doubt (no record of ownership, a value the comparison
// cannot read) answers false, and the apply settles it.
func upToDate(live client.Object, payload map[string]any, apiVersion, kind string) bool {
	var owned *fieldpath.Set
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" && mf.FieldsV1 != nil {
			owned = &fieldpath.Set{}
			if err := owned.FromJSON(mf.FieldsV1.GetRawReader()); err != nil {
				return false
			}
		}
	}
	if owned == nil {
		return false
	}
	liveMap, err := toMap(live)
	if err != nil {
		return false
	}
	liveMap["apiVersion"], liveMap["kind"] = apiVersion, kind
	liveObj := &unstructured.Unstructured{Object: liveMap}
	wantObj := &unstructured.Unstructured{Object: payload}
	for _, tc := range []managedfields.TypeConverter{builtinTypes, deducedTypes} {
		liveTyped, err := tc.ObjectToTyped(liveObj)
		if err != nil {
			continue
		}
		want, err := tc.ObjectToTyped(wantObj)
		if err != nil {
			continue
		}
		want = want.RemoveItems(notApplied)
		have := liveTyped.ExtractItems(owned.Leaves()).RemoveItems(notApplied)
		cmp, err := want.Compare(have)
		return err == nil && cmp.IsSame()
	}
	return false
}

// notApplied are the fields left out of the comparison: those that name an
// applied object rather than set it, which the API server does not record as
// owned, and status, which the operator never applies.
var notApplied = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("status"),
)

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

// apiReader reads straight from the API server.
func (r *ChatClusterReconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// toMap is obj as a map of its JSON form, a copy.
func toMap(obj client.Object) (map[string]any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy().Object, nil
	}
	return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
}

// fromMap sets obj from the map of its JSON form.
func fromMap(m map[string]any, obj client.Object) error {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		u.Object = m
		return nil
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, obj)
}
