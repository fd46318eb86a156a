package v1alpha1

// The condition types of a ChatCluster's status. Every reconciled
// ChatCluster carries each of them, except Paused, which is there only while
// reconciling is paused.
const (
	// ConditionReady is True when the chat server, the indexer and every
	// backend are ready.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a workload rolls out.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when something needs a fix: its reason
	// and message name the object and what to change.
	ConditionDegraded = "Degraded"
	// ConditionChatServerAvailable is True when every desired chat-server
	// replica is available on the latest template.
	ConditionChatServerAvailable = "ChatServerAvailable"
	// ConditionIndexerAvailable is the same for the indexer.
	ConditionIndexerAvailable = "IndexerAvailable"
	// ConditionStorageResized is True when every managed backend's volume
	// has the size its spec asks for.
	ConditionStorageResized = "StorageResized"
	// ConditionPaused is True while the ChatCluster carries the pause
	// annotation; it is removed when reconciling resumes.
	ConditionPaused = "Paused"

	// ConditionRedisReady and the three after it report one backend each:
	// a managed one by its StatefulSet, an external one by its Secret and,
	// while the component that needs it is down, by whether it answers.
	ConditionRedisReady         = "RedisReady"
	ConditionMongoDBReady       = "MongoDBReady"
	ConditionKafkaReady         = "KafkaReady"
	ConditionElasticsearchReady = "ElasticsearchReady"
)

// The reasons of Ready, Progressing, ChatServerAvailable, IndexerAvailable
// and Paused.
const (
	ReasonAllComponentsReady  = "AllComponentsReady"
	ReasonComponentsNotReady  = "ComponentsNotReady"
	ReasonReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonReplicasUnavailable = "ReplicasUnavailable"
	ReasonRollingOut          = "RollingOut"
	ReasonRolloutComplete     = "RolloutComplete"
	ReasonWaitingForFix       = "WaitingForFix"
	ReasonReconcilePaused     = "ReconcilePaused"
	ReasonReconcileResumed    = "ReconcileResumed"
)

// The reasons of the backend conditions, which Degraded repeats for an
// external backend that needs a fix.
const (
	ReasonSecretMissing       = "SecretMissing"
	ReasonSecretKeyMissing    = "SecretKeyMissing"
	ReasonSecretInvalid       = "SecretInvalid"
	ReasonSecretValid         = "SecretValid"
	ReasonStatefulSetReady    = "StatefulSetReady"
	ReasonStatefulSetNotReady = "StatefulSetNotReady"
	// ReasonBackendUnreachable: an external backend's Secret is valid,
	// but nothing answers at the addresses it names while the component
	// that needs the backend is not available.
	ReasonBackendUnreachable = "BackendUnreachable"
)

// The reasons of Degraded for pods and rollouts that report an error, and
// AsExpected when nothing does.
const (
	ReasonAsExpected                 = "AsExpected"
	ReasonImagePullFailed            = "ImagePullFailed"
	ReasonInvalidImageName           = "InvalidImageName"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
)

// The reasons of StorageResized.
const (
	ReasonVolumesAsRequested    = "VolumesAsRequested"
	ReasonVolumeExpanding       = "Expanding"
	ReasonExpansionNotSupported = "ExpansionNotSupported"
	ReasonShrinkNotSupported    = "ShrinkNotSupported"
	ReasonVolumeNotBound        = "VolumeNotBound"
)
