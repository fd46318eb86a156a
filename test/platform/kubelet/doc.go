// Package kubelet is the platform test's kubelet: it runs, as real Linux
// processes on this machine, the pods that a simulated cluster (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok for the
// node object only) binds to one node.
//
// For each pod it creates a network namespace with only a loopback device,
// materialises the pod's volumes as directories, resolves the containers'
// environment from the API, maps each container image to a local program
// (Images) and runs it in the pod's network namespace and a private mount
// namespace in which every volume is bind-mounted at its mountPath, as the
// pod's user. It runs the probes from inside the pod's namespaces, restarts
// exited containers with the kubelet's back-off and writes the pod's status
// through the API as a kubelet does. Services are reached inside each pod
// through a user-space proxy at one loopback address per Service, named in
// the pod's /etc/hosts; each pod's container ports are forwarded to the
// host's loopback for tests (Forward).
//
// Lifecycle: Run owns every goroutine it starts (informers, one worker per
// pod with one runner per container and one prober per probe, the network's
// proxy and forward listeners with their connections, the HTTP endpoint) and
// returns only when all of them have ended. Cancelling its context stops
// every pod's processes (SIGTERM, then SIGKILL after the grace period) and
// removes their network namespaces; the pods themselves stay in the API.
package kubelet
