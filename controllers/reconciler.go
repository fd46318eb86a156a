package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// SecretNamesIndex indexes ChatClusters by the names of the external Secrets
// they reference, so that a Secret event finds its ChatClusters.
const SecretNamesIndex = "spec.externalSecretNames"

// requeueWhileProgressing is how soon a ChatCluster that is not Ready is
// looked at again, on top of the watches that usually come first.
const requeueWhileProgressing = 30 * time.Second

// ChatClusterReconciler reconciles ChatCluster objects.
type ChatClusterReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Images   Images
	// Random returns n random bytes, encoded; nil means crypto/rand.
	Random func(n int) string
}

// +kubebuilder:rbac:groups=chat.chatcluster.io,resources=chatclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chat.chatcluster.io,resources=chatclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chat.chatcluster.io,resources=chatclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps;secrets;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings the objects of one ChatCluster in line with its spec, then
// reports their state in its status.
func (r *ChatClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cc := &chatv1.ChatCluster{}
	if err := r.Get(ctx, req.NamespacedName, cc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cc.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector delete the rest.
		return ctrl.Result{}, nil
	}

	observed, err := r.observeExternalBackends(ctx, cc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if observed, err = r.ensureBackends(ctx, cc, observed); err != nil {
		return requeueOnStaleCache(err)
	}
	deploy, err := r.ensureChatServer(ctx, cc, observed)
	if err != nil {
		return requeueOnStaleCache(err)
	}
	ready, err := r.updateStatus(ctx, cc, computeStatus(cc, deploy, observed))
	if err != nil || ready {
		return requeueOnStaleCache(err)
	}
	return ctrl.Result{RequeueAfter: requeueWhileProgressing}, nil
}

// requeueOnStaleCache turns the errors of a cache that lags behind the API
// server (a conflict, an object created meanwhile) into a quiet retry.
func requeueOnStaleCache(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{}, err
}

// observeExternalBackends reads the Secret of every external backend.
func (r *ChatClusterReconciler) observeExternalBackends(ctx context.Context, cc *chatv1.ChatCluster) ([]backendState, error) {
	observed := make([]backendState, 0, len(backends))
	for _, b := range backends {
		if b.managed(cc) {
			observed = append(observed, backendState{backend: b, managed: true})
			continue
		}
		name := b.spec(&cc.Spec).External.SecretName
		secret := &corev1.Secret{}
		err := r.Get(ctx, client.ObjectKey{Namespace: cc.Namespace, Name: name}, secret)
		if apierrors.IsNotFound(err) {
			secret = nil
		} else if err != nil {
			return nil, fmt.Errorf("get Secret %s: %w", name, err)
		}
		observed = append(observed, observeSecret(b, name, secret))
	}
	return observed, nil
}

// ensureBackends runs each managed backend (StatefulSet, headless Service)
// and removes those that turned external, then the NetworkPolicy that guards
// them. It returns observed with the managed backends' state filled in.
func (r *ChatClusterReconciler) ensureBackends(ctx context.Context, cc *chatv1.ChatCluster, observed []backendState) ([]backendState, error) {
	anyManaged := false
	for i, s := range observed {
		b := s.backend
		if !s.managed {
			meta := objectMeta(cc, b.name)
			if err := r.ensureAbsent(ctx, cc, &appsv1.StatefulSet{ObjectMeta: meta}); err != nil {
				return nil, err
			}
			if err := r.ensureAbsent(ctx, cc, &corev1.Service{ObjectMeta: meta}); err != nil {
				return nil, err
			}
			continue
		}
		anyManaged = true
		if err := r.ensure(ctx, cc, b.headlessService(cc)); err != nil {
			return nil, err
		}
		sts := b.statefulSet(cc, r.Images)
		live := &appsv1.StatefulSet{}
		switch err := r.Get(ctx, client.ObjectKeyFromObject(sts), live); {
		case err == nil:
			// The API server forbids changing volumeClaimTemplates: a new
			// storage size applies to new ChatClusters only.
			sts.Spec.VolumeClaimTemplates = live.Spec.VolumeClaimTemplates
		case !apierrors.IsNotFound(err):
			return nil, err
		}
		if err := r.ensure(ctx, cc, sts); err != nil {
			return nil, err
		}
		observed[i] = observeStatefulSet(b, sts)
	}
	policy := backendPolicy(cc)
	if !anyManaged {
		return observed, r.ensureAbsent(ctx, cc, policy)
	}
	return observed, r.ensure(ctx, cc, policy)
}

// ensureChatServer writes the chat server's configuration, Deployment and the
// objects around it, and the indexer. It returns the chat server's Deployment
// as the API server has it.
func (r *ChatClusterReconciler) ensureChatServer(ctx context.Context, cc *chatv1.ChatCluster, observed []backendState) (*appsv1.Deployment, error) {
	cm := configMap(cc, observed)
	if err := r.ensure(ctx, cc, cm); err != nil {
		return nil, err
	}
	secret, err := r.ensureGeneratedSecret(ctx, cc)
	if err != nil {
		return nil, err
	}
	hash := configHash(cm, secret, observed)
	deploy := chatServerDeployment(cc, r.Images, observed, hash)
	steps := []struct {
		want bool
		obj  client.Object
	}{
		{true, serviceAccount(cc)},
		{true, chatService(cc)},
		{true, deploy},
		{true, indexerDeployment(cc, r.Images, observed, hash)},
		{ingressEnabled(cc), chatIngress(cc)},
		{wantPDB(cc), chatPDB(cc)},
		{cc.Spec.Autoscaling.Enabled, chatHPA(cc)},
	}
	for _, s := range steps {
		if s.want {
			err = r.ensure(ctx, cc, s.obj)
		} else {
			err = r.ensureAbsent(ctx, cc, s.obj)
		}
		if err != nil {
			return nil, err
		}
	}
	return deploy, nil
}

// ensureGeneratedSecret keeps the session key and admin password across
// reconciles: it generates only what is missing.
func (r *ChatClusterReconciler) ensureGeneratedSecret(ctx context.Context, cc *chatv1.ChatCluster) (*corev1.Secret, error) {
	live := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: cc.Namespace, Name: chatServerName(cc)}, live)
	if client.IgnoreNotFound(err) != nil {
		return nil, err
	}
	random := r.Random
	if random == nil {
		random = randomString
	}
	secret := generatedSecret(cc, live, random)
	return secret, r.ensure(ctx, cc, secret)
}

// updateStatus writes status if it differs from the ChatCluster's, with
// optimistic locking, and records an event when Ready or Degraded flips. It
// reports whether the ChatCluster is Ready.
func (r *ChatClusterReconciler) updateStatus(ctx context.Context, cc *chatv1.ChatCluster, status chatv1.ChatClusterStatus) (bool, error) {
	ready := meta.IsStatusConditionTrue(status.Conditions, ConditionReady)
	if equality.Semantic.DeepEqual(cc.Status, status) {
		return ready, nil
	}
	wasReady := meta.IsStatusConditionTrue(cc.Status.Conditions, ConditionReady)
	wasDegraded := meta.IsStatusConditionTrue(cc.Status.Conditions, ConditionDegraded)

	before := cc.DeepCopy()
	cc.Status = status
	if err := r.Status().Patch(ctx, cc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("patch status: %w", err)
	}
	log.FromContext(ctx).V(1).Info("status updated", "ready", ready)

	if degraded := meta.FindStatusCondition(status.Conditions, ConditionDegraded); degraded.Status == "True" && !wasDegraded {
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, degraded.Reason, "Reconcile", degraded.Message)
	}
	switch {
	case ready && !wasReady:
		r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, ReasonAllComponentsReady, "Reconcile", "ChatCluster is ready at %s", status.Endpoint)
	case !ready && wasReady:
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, "NotReady", "Reconcile",
			meta.FindStatusCondition(status.Conditions, ConditionReady).Message)
	}
	return ready, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// externalSecretNames lists the Secrets a ChatCluster references.
func externalSecretNames(obj client.Object) []string {
	cc := obj.(*chatv1.ChatCluster)
	var names []string
	for _, b := range backends {
		if ext := b.spec(&cc.Spec).External; ext != nil {
			names = append(names, ext.SecretName)
		}
	}
	return names
}

// SetupWithManager registers the controller, its watches and the Secret index.
func (r *ChatClusterReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &chatv1.ChatCluster{}, SecretNamesIndex, externalSecretNames); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&chatv1.ChatCluster{}).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.chatClustersForSecret)).
		Complete(r)
}

// chatClustersForSecret maps a Secret to the ChatClusters that reference it.
func (r *ChatClusterReconciler) chatClustersForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list chatv1.ChatClusterList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{SecretNamesIndex: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list ChatClusters for Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, cc := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&cc)})
	}
	return reqs
}
