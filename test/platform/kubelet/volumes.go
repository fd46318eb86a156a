package kubelet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// volume is a pod volume materialised as a host directory.
type volume struct {
	path     string
	readOnly bool // mounted read-only whatever the mount says (Secret, ConfigMap)
}

// mountError is a volume that cannot be set up yet (a claim not bound, a
// Secret missing); the pod waits in ContainerCreating and the kubelet retries.
type mountError struct{ msg string }

func (e *mountError) Error() string { return e.msg }

func mountErrorf(format string, args ...any) error {
	return &mountError{fmt.Sprintf(format, args...)}
}

// volumeSetup materialises a pod's volumes.
type volumeSetup struct {
	client   kubernetes.Interface
	objs     *podObjects
	stateDir string
	pod      *corev1.Pod
	dir      string // the sandbox's directory for pod-local volumes
	fsGroup  *int64
}

// setupVolumes makes every volume of the pod: emptyDir as a fresh directory,
// Secret and ConfigMap as files, a PersistentVolumeClaim as the directory of
// its volume (a hostPath PV's path, else one under the state directory per
// claim), made the first time like a freshly formatted ext4 file system
// (root-owned, with lost+found). With an fsGroup, every volume but a Secret's
// or ConfigMap's files is given to that group, group-writable and setgid, as
// the kubelet does for volumes that support ownership management.
func setupVolumes(ctx context.Context, client kubernetes.Interface, stateDir string, pod *corev1.Pod, dir string) (map[string]volume, error) {
	s := &volumeSetup{client: client, objs: newPodObjects(client, pod.Namespace), stateDir: stateDir, pod: pod, dir: dir}
	if sc := pod.Spec.SecurityContext; sc != nil {
		s.fsGroup = sc.FSGroup
	}
	vols := map[string]volume{}
	for _, v := range pod.Spec.Volumes {
		vol, err := s.setup(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		vols[v.Name] = vol
	}
	return vols, nil
}

func (s *volumeSetup) setup(ctx context.Context, v corev1.Volume) (volume, error) {
	local := filepath.Join(s.dir, "volumes", v.Name)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(local, 0o777); err != nil {
			return volume{}, err
		}
		// MkdirAll applies the umask.
		if err := os.Chmod(local, 0o777); err != nil {
			return volume{}, err
		}
		return volume{path: local}, s.own(local)
	case v.Secret != nil, v.ConfigMap != nil:
		ref, items, mode := objectRef{}, []corev1.KeyToPath(nil), (*int32)(nil)
		if vs := v.Secret; vs != nil {
			ref, items, mode = objectRef{secret: true, name: vs.SecretName, optional: isOptional(vs.Optional)}, vs.Items, vs.DefaultMode
		} else {
			vc := v.ConfigMap
			ref, items, mode = objectRef{name: vc.Name, optional: isOptional(vc.Optional)}, vc.Items, vc.DefaultMode
		}
		files, err := s.objectFiles(ctx, ref, items)
		if err != nil {
			return volume{}, err
		}
		return volume{path: local, readOnly: true}, s.writeFiles(local, files, mode)
	case v.PersistentVolumeClaim != nil:
		p, err := s.claim(ctx, v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return volume{}, err
		}
		return volume{path: p, readOnly: v.PersistentVolumeClaim.ReadOnly}, nil
	case v.Projected != nil:
		files, err := s.projected(ctx, v.Projected)
		if err != nil {
			return volume{}, err
		}
		return volume{path: local, readOnly: true}, s.writeFiles(local, files, v.Projected.DefaultMode)
	case v.DownwardAPI != nil:
		files, err := downwardFiles(s.pod, v.DownwardAPI.Items)
		if err != nil {
			return volume{}, err
		}
		return volume{path: local, readOnly: true}, s.writeFiles(local, files, v.DownwardAPI.DefaultMode)
	case v.HostPath != nil:
		if t := v.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
				return volume{}, err
			}
		}
		return volume{path: v.HostPath.Path}, nil
	}
	return volume{}, &mountError{"this kubelet supports emptyDir, secret, configMap, projected, downwardAPI, persistentVolumeClaim and hostPath volumes only"}
}

// projected gathers a projected volume's files: Secret and ConfigMap
// items, downward API fields and a service account token from the
// TokenRequest API (the kube-api-access volume of every pod that mounts its
// service account's token).
func (s *volumeSetup) projected(ctx context.Context, p *corev1.ProjectedVolumeSource) (map[string]projectedFile, error) {
	files := map[string]projectedFile{}
	for _, src := range p.Sources {
		var add map[string]projectedFile
		var err error
		switch {
		case src.Secret != nil:
			add, err = s.objectFiles(ctx, objectRef{secret: true, name: src.Secret.Name, optional: isOptional(src.Secret.Optional)}, src.Secret.Items)
		case src.ConfigMap != nil:
			add, err = s.objectFiles(ctx, objectRef{name: src.ConfigMap.Name, optional: isOptional(src.ConfigMap.Optional)}, src.ConfigMap.Items)
		case src.DownwardAPI != nil:
			add, err = downwardFiles(s.pod, src.DownwardAPI.Items)
		case src.ServiceAccountToken != nil:
			add, err = s.token(ctx, src.ServiceAccountToken)
		}
		if err != nil {
			return nil, err
		}
		maps.Copy(files, add)
	}
	return files, nil
}

// objectFiles are the files of a Secret's or ConfigMap's items.
func (s *volumeSetup) objectFiles(ctx context.Context, ref objectRef, items []corev1.KeyToPath) (map[string]projectedFile, error) {
	data, _, err := s.objs.object(ctx, ref, mountErrorf)
	if err != nil {
		return nil, err
	}
	return keyToPaths(data, items, ref.optional, mountErrorf)
}

// token is a service account token bound to the pod, from the
// TokenRequest API.
func (s *volumeSetup) token(ctx context.Context, t *corev1.ServiceAccountTokenProjection) (map[string]projectedFile, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: t.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: s.pod.Name, UID: s.pod.UID},
	}}
	if t.Audience != "" {
		req.Spec.Audiences = []string{t.Audience}
	}
	sa := s.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := s.client.CoreV1().ServiceAccounts(s.pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, mountErrorf("service account %q token: %v", sa, err)
	}
	return map[string]projectedFile{t.Path: {data: []byte(tr.Status.Token)}}, nil
}

// downwardFiles are a downward API volume's files (fields only).
func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string]projectedFile, error) {
	files := map[string]projectedFile{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, mountErrorf("downward API file %q: only fieldRef is supported by this kubelet", it.Path)
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		files[it.Path] = projectedFile{data: []byte(v), mode: it.Mode}
	}
	return files, nil
}

// writeFiles writes a volume's files afresh with their modes (else the
// volume's default, else 0644), group-owned by the fsGroup.
func (s *volumeSetup) writeFiles(dir string, files map[string]projectedFile, defaultMode *int32) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		if name == "" || filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(name), "..") {
			return mountErrorf("file path %q is not relative", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if m := cmp.Or(f.mode, defaultMode); m != nil {
			mode = fs.FileMode(*m)
		}
		if err := os.WriteFile(p, f.data, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if s.fsGroup != nil {
			if err := os.Chown(p, -1, int(*s.fsGroup)); err != nil {
				return err
			}
		}
	}
	return nil
}

// claim returns the directory of a bound claim's volume, made on first use.
func (s *volumeSetup) claim(ctx context.Context, name string) (string, error) {
	core := s.client.CoreV1()
	pvc, err := core.PersistentVolumeClaims(s.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", &mountError{fmt.Sprintf("persistentvolumeclaim %q not found", name)}
	}
	if err != nil {
		return "", err
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", &mountError{fmt.Sprintf("persistentvolumeclaim %q is not bound", name)}
	}
	pv, err := core.PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	dir := filepath.Join(s.stateDir, "claims", string(pvc.UID))
	if pv.Spec.HostPath != nil {
		dir = pv.Spec.HostPath.Path
	}
	if err := format(dir); err != nil {
		return "", err
	}
	return dir, s.own(dir)
}

// format makes dir look like a new ext4 file system the first time: a
// root-owned root with lost+found, which some programs refuse to find in
// their data directory.
func format(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return os.Mkdir(filepath.Join(dir, "lost+found"), 0o700)
}

// own gives dir and everything in it to the fsGroup, group-readable and
// writable, directories setgid (the kubelet's SetVolumeOwnership).
func (s *volumeSetup) own(dir string) error {
	if s.fsGroup == nil {
		return nil
	}
	gid := int(*s.fsGroup)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o060
		if d.IsDir() {
			mode |= 0o010 | fs.ModeSetgid
		}
		return os.Chmod(p, mode|info.Mode()&fs.ModeSticky)
	})
}
