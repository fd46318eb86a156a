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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

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
	// Client reads through the manager's cache (CacheOptions) and writes to
	// the API server.
	client.Client
	// APIReader reads straight from the API server: the external Secrets,
	// which the cache does not hold, and StorageClasses. Nil means Client.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Images are the operator's pinned images. A managed backend keeps the
	// image recorded in its ChatCluster's status.images when they change
	// (see backendImage).
	Images Images
	// Namespace is the only namespace reconciled; empty means every one.
	// It must match the namespace given to CacheOptions.
	Namespace string
	// Random returns n random bytes, encoded; nil means crypto/rand.
	Random func(n int) string
	// Dial checks that an external backend answers (checkReachable); nil
	// means a net.Dialer.
	Dial Dialer
}

// +kubebuilder:rbac:groups=chat.chatcluster.io,resources=chatclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chat.chatcluster.io,resources=chatclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chat.chatcluster.io,resources=chatclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps;secrets;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;list;watch;create;update;patch;delete
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
	if paused(cc) {
		return requeueOnStaleCache(r.pause(ctx, cc))
	}

	observed, err := r.observeExternalBackends(ctx, cc)
	if err != nil {
		return ctrl.Result{}, err
	}
	obs := observation{images: map[string]string{}}
	if obs.backends, obs.volumes, err = r.ensureBackends(ctx, cc, observed, obs.images); err != nil {
		return requeueOnStaleCache(err)
	}
	if obs.chatServer, obs.indexer, err = r.ensureChatServer(ctx, cc, obs.backends); err != nil {
		return requeueOnStaleCache(err)
	}
	if err := r.retireBackends(ctx, cc, obs.chatServer, obs.indexer); err != nil {
		return requeueOnStaleCache(err)
	}
	r.checkReachable(ctx, obs.backends, obs.chatServer, obs.indexer)
	obs.images[componentChatServer] = containerImage(obs.chatServer.Spec.Template.Spec.Containers, componentChatServer)
	obs.images[componentIndexer] = containerImage(obs.indexer.Spec.Template.Spec.Containers, componentIndexer)
	// A PodMonitor the API server refuses must not hold the status back:
	// its error is returned, and retried, once the status is written.
	monitoringErr := r.ensureMonitoring(ctx, cc)
	obs.problems = r.observeProblems(ctx, cc, obs)

	ready, err := r.updateStatus(ctx, cc, computeStatus(cc, obs))
	if err != nil {
		return requeueOnStaleCache(err)
	}
	if monitoringErr != nil {
		return requeueOnStaleCache(monitoringErr)
	}
	if err := r.finishBackendUpgrade(ctx, cc); err != nil {
		return requeueOnStaleCache(err)
	}
	if ready {
		return ctrl.Result{}, nil
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

// observeExternalBackends reads the Secret of every external backend, from
// the API server: the cache holds only the operator's own Secrets.
func (r *ChatClusterReconciler) observeExternalBackends(ctx context.Context, cc *chatv1.ChatCluster) ([]backendState, error) {
	observed := make([]backendState, 0, len(backends))
	for _, b := range backends {
		if b.managed(cc) {
			observed = append(observed, backendState{backend: b, managed: true})
			continue
		}
		name := b.spec(&cc.Spec).External.SecretName
		secret := &corev1.Secret{}
		err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: cc.Namespace, Name: name}, secret)
		if apierrors.IsNotFound(err) {
			secret = nil
		} else if err != nil {
			return nil, fmt.Errorf("get Secret %s: %w", name, err)
		}
		observed = append(observed, observeSecret(b, name, secret))
	}
	return observed, nil
}

// ensureBackends runs each managed backend (StatefulSet, headless Service),
// grows its volume when its spec asks for more, and removes those that
// turned external, then the NetworkPolicy that guards them. It returns
// observed with the managed backends' state filled in, the state of their
// volumes, and records each managed backend's image in images.
func (r *ChatClusterReconciler) ensureBackends(ctx context.Context, cc *chatv1.ChatCluster, observed []backendState, images map[string]string) ([]backendState, []volumeState, error) {
	var volumes []volumeState
	anyManaged := false
	for i, s := range observed {
		b := s.backend
		if !s.managed {
			// Removed by retireBackends, once no pod uses it.
			continue
		}
		anyManaged = true
		if err := r.ensure(ctx, cc, b.headlessService(cc)); err != nil {
			return nil, nil, err
		}
		live := &appsv1.StatefulSet{}
		switch err := r.Get(ctx, client.ObjectKey{Namespace: cc.Namespace, Name: cc.Name + "-" + b.name}, live); {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return nil, nil, err
		}
		sts := b.statefulSet(cc, r.backendImage(cc, b, live))
		if sts.Annotations == nil {
			sts.Annotations = map[string]string{}
		}
		sts.Annotations[backendSpecAnnotation] = backendSpecHash(cc, b)
		if live != nil {
			// The API server forbids changing volumeClaimTemplates: the
			// volume itself is grown instead (resizeVolume).
			sts.Spec.VolumeClaimTemplates = live.Spec.VolumeClaimTemplates
		}
		if err := r.ensure(ctx, cc, sts); err != nil {
			return nil, nil, err
		}
		images[b.name] = containerImage(sts.Spec.Template.Spec.Containers, b.name)
		observed[i] = observeStatefulSet(b, sts)
		v, err := r.resizeVolume(ctx, cc, b)
		if err != nil {
			return nil, nil, err
		}
		volumes = append(volumes, v)
	}
	policy := backendPolicy(cc)
	if !anyManaged {
		return observed, volumes, r.ensureAbsent(ctx, cc, policy)
	}
	return observed, volumes, r.ensure(ctx, cc, policy)
}

// retireBackends removes the StatefulSet and Service of each backend that
// turned external, but only once the chat server and the indexer have rolled
// out on a template that no longer reaches it: pods of the old template still
// resolve and use the managed backend until they are gone. Its volume follows
// retainOnDelete through the StatefulSet's claim retention policy.
func (r *ChatClusterReconciler) retireBackends(ctx context.Context, cc *chatv1.ChatCluster, chatServer, indexer *appsv1.Deployment) error {
	if ok, _ := deploymentAvailable(chatServer); !ok {
		return nil
	}
	if ok, _ := deploymentAvailable(indexer); !ok {
		return nil
	}
	for _, b := range backends {
		if b.managed(cc) {
			continue
		}
		meta := objectMeta(cc, b.name)
		if err := r.ensureAbsent(ctx, cc, &appsv1.StatefulSet{ObjectMeta: meta}); err != nil {
			return err
		}
		if err := r.ensureAbsent(ctx, cc, &corev1.Service{ObjectMeta: meta}); err != nil {
			return err
		}
	}
	return nil
}

// ensureChatServer writes the chat server's configuration, Deployment and the
// objects around it, and the indexer. It returns the chat server's and the
// indexer's Deployments as the API server has them.
func (r *ChatClusterReconciler) ensureChatServer(ctx context.Context, cc *chatv1.ChatCluster, observed []backendState) (*appsv1.Deployment, *appsv1.Deployment, error) {
	cm := configMap(cc, observed)
	if err := r.ensure(ctx, cc, cm); err != nil {
		return nil, nil, err
	}
	secret, err := r.ensureGeneratedSecret(ctx, cc)
	if err != nil {
		return nil, nil, err
	}
	hash := configHash(cm, secret, observed)
	deploy := chatServerDeployment(cc, r.Images, observed, hash)
	if cc.Spec.Autoscaling.Enabled {
		if deploy.Spec.Replicas, err = r.autoscaledReplicas(ctx, cc, deploy); err != nil {
			return nil, nil, err
		}
	}
	indexer := indexerDeployment(cc, r.Images, observed, hash)
	steps := []struct {
		want bool
		obj  client.Object
	}{
		{true, serviceAccount(cc)},
		{true, chatService(cc)},
		{true, deploy},
		{true, indexer},
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
			return nil, nil, err
		}
	}
	return deploy, indexer, nil
}

// autoscaledReplicas is the replica count the chat server's Deployment
// keeps while the HorizontalPodAutoscaler runs it: whatever it has, so that
// the autoscaler's choice stands, or the autoscaler's minimum for a new
// Deployment. Leaving replicas out instead would let server-side apply
// remove the count the operator set before autoscaling was turned on, and
// the Deployment would drop to one replica until the autoscaler noticed.
func (r *ChatClusterReconciler) autoscaledReplicas(ctx context.Context, cc *chatv1.ChatCluster, deploy *appsv1.Deployment) (*int32, error) {
	live := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKeyFromObject(deploy), live)
	if apierrors.IsNotFound(err) || (err == nil && live.Spec.Replicas == nil) {
		return ptr.To(max(cc.Spec.Autoscaling.MinReplicas, 1)), nil
	}
	if err != nil {
		return nil, err
	}
	return live.Spec.Replicas, nil
}

// ensureGeneratedSecret keeps the session key and admin password across
// reconciles: it generates only what is missing. A Secret that does not
// exist yet is created, not applied, so that a reconcile that missed it
// (a cache behind the API server, another replica) fails on it instead of
// replacing the keys everyone uses.
func (r *ChatClusterReconciler) ensureGeneratedSecret(ctx context.Context, cc *chatv1.ChatCluster) (*corev1.Secret, error) {
	random := r.Random
	if random == nil {
		random = randomString
	}
	key := client.ObjectKey{Namespace: cc.Namespace, Name: chatServerName(cc)}
	live := &corev1.Secret{}
	err := r.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		err = r.apiReader().Get(ctx, key, live)
	}
	switch {
	case apierrors.IsNotFound(err):
		secret := generatedSecret(cc, &corev1.Secret{}, random)
		if err := controllerutil.SetControllerReference(cc, secret, r.Scheme); err != nil {
			return nil, err
		}
		if err := r.Create(ctx, secret, client.FieldOwner(FieldOwner)); err != nil {
			return nil, fmt.Errorf("create Secret %s: %w", secret.Name, err)
		}
		r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, "Created", "Create", "Created Secret %s", secret.Name)
		// From now on the Secret is applied like everything else.
		if _, err := r.adoptLegacyFields(ctx, secret); err != nil {
			return nil, fmt.Errorf("hand Secret %s over to server-side apply: %w", secret.Name, err)
		}
		return secret, nil
	case err != nil:
		return nil, err
	}
	secret := generatedSecret(cc, live, random)
	return secret, r.ensure(ctx, cc, secret)
}

// updateStatus writes status if it differs from the ChatCluster's, with
// optimistic locking, and records events: a warning when Degraded turns True
// or names a new problem, when a volume cannot be resized, when the
// ChatCluster stops being Ready; a normal event when it turns Ready and when
// reconciling resumes after a pause. It reports whether the ChatCluster is
// Ready.
func (r *ChatClusterReconciler) updateStatus(ctx context.Context, cc *chatv1.ChatCluster, status chatv1.ChatClusterStatus) (bool, error) {
	ready := meta.IsStatusConditionTrue(status.Conditions, chatv1.ConditionReady)
	if equality.Semantic.DeepEqual(cc.Status, status) {
		return ready, nil
	}
	was := cc.Status.Conditions
	before := cc.DeepCopy()
	cc.Status = status
	if err := r.Status().Patch(ctx, cc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil // deleted meanwhile
		}
		return false, fmt.Errorf("patch status: %w", err)
	}
	log.FromContext(ctx).V(1).Info("status updated", "ready", ready)

	if c := meta.FindStatusCondition(was, chatv1.ConditionPaused); c != nil && c.Status == metav1.ConditionTrue {
		r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, chatv1.ReasonReconcileResumed, "Reconcile",
			"Reconciling again: the annotation %s=%s is gone", PauseAnnotation, pausedValue)
	}
	if c := newlyTrue(was, status.Conditions, chatv1.ConditionDegraded); c != nil {
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, c.Reason, "Reconcile", c.Message)
	}
	if c := newlyFalse(was, status.Conditions, chatv1.ConditionStorageResized); c != nil && c.Reason != chatv1.ReasonVolumeExpanding {
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, c.Reason, "ResizeVolume", c.Message)
	}
	wasReady := meta.IsStatusConditionTrue(was, chatv1.ConditionReady)
	switch {
	case ready && !wasReady:
		r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, chatv1.ReasonAllComponentsReady, "Reconcile", "ChatCluster is ready at %s", status.Endpoint)
	case !ready && wasReady:
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, "NotReady", "Reconcile",
			meta.FindStatusCondition(status.Conditions, chatv1.ConditionReady).Message)
	}
	return ready, nil
}

// newlyTrue returns the condition t of now when it is True and was not, or
// was True for another reason or with another message.
func newlyTrue(was, now []metav1.Condition, t string) *metav1.Condition {
	c := meta.FindStatusCondition(now, t)
	if c == nil || c.Status != metav1.ConditionTrue {
		return nil
	}
	if old := meta.FindStatusCondition(was, t); old != nil && old.Status == metav1.ConditionTrue &&
		old.Reason == c.Reason && old.Message == c.Message {
		return nil
	}
	return c
}

// newlyFalse is newlyTrue for a condition that turns False.
func newlyFalse(was, now []metav1.Condition, t string) *metav1.Condition {
	c := meta.FindStatusCondition(now, t)
	if c == nil || c.Status != metav1.ConditionFalse {
		return nil
	}
	if old := meta.FindStatusCondition(was, t); old != nil && old.Status == metav1.ConditionFalse &&
		old.Reason == c.Reason && old.Message == c.Message {
		return nil
	}
	return c
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

// SetupWithManager registers the controller, its watches and the Secret
// index. The manager's cache must have been made with CacheOptions.
func (r *ChatClusterReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &chatv1.ChatCluster{}, SecretNamesIndex, externalSecretNames); err != nil {
		return err
	}
	// Every Secret, metadata only, in a cache of its own: the manager's
	// cache holds only the operator's Secrets.
	opts := SecretMetadataCacheOptions(mgr.GetScheme(), r.Namespace)
	opts.HTTPClient, opts.Mapper = mgr.GetHTTPClient(), mgr.GetRESTMapper()
	secrets, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return fmt.Errorf("secret metadata cache: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return err
	}
	ofInstance := handler.EnqueueRequestsFromMapFunc(chatClusterOfInstance)
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
		Watches(&corev1.Pod{}, ofInstance, builder.WithPredicates(podProblemsChanged)).
		Watches(&corev1.PersistentVolumeClaim{}, ofInstance).
		WatchesRawSource(source.Kind(secrets, secretMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(r.chatClustersForSecret))).
		Complete(r)
}

// chatClusterOfInstance maps a pod or a volume claim of a workload the
// operator runs to its ChatCluster, named by the instance label.
func chatClusterOfInstance(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l["app.kubernetes.io/name"] != "chatcluster" || l["app.kubernetes.io/instance"] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: l["app.kubernetes.io/instance"]}}}
}

// chatClustersForSecret maps a Secret to the ChatClusters that reference it.
func (r *ChatClusterReconciler) chatClustersForSecret(ctx context.Context, secret *metav1.PartialObjectMetadata) []reconcile.Request {
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
