package kubelet

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// Image is a container image this node can "pull": the local program that
// runs in place of the image's entrypoint, and what the image's metadata
// would say.
type Image struct {
	// Program is the executable run in place of the image's entrypoint.
	Program string
	// Entrypoint is the image's ENTRYPOINT; a container command that names
	// it (or Program's base name) runs Program.
	Entrypoint string
	// Commands are programs the image's entrypoint script runs by name when
	// they come first in the arguments (redis' docker-entrypoint.sh and
	// "redis-server"); such a first argument is dropped before Program's.
	Commands []string
	// User is the image's USER, used when the pod does not set runAsUser.
	User int64
	// Env is the image's ENV, below the container's own variables.
	Env map[string]string
}

// Images maps image repositories (normalised: "redis" and
// "docker.io/library/redis" are the same) to what runs for them. Tags and
// digests are ignored: every tag of a known repository runs its Program.
type Images map[string]Image

// errImagePull is why an image cannot run here; the container then waits
// with ErrImagePull and ImagePullBackOff.
type errImagePull struct{ msg string }

func (e *errImagePull) Error() string { return e.msg }

// Lookup returns the image for a container's image reference.
func (im Images) Lookup(ref string) (Image, error) {
	repo := Repository(ref)
	img, ok := im[repo]
	if !ok {
		return Image{}, &errImagePull{fmt.Sprintf("image %q: repository %s is not known to this node", ref, repo)}
	}
	st, err := os.Stat(img.Program)
	if err != nil {
		return Image{}, &errImagePull{fmt.Sprintf("image %q: program %s: %v", ref, img.Program, err)}
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return Image{}, &errImagePull{fmt.Sprintf("image %q: program %s is not executable", ref, img.Program)}
	}
	return img, nil
}

// Repository normalises an image reference to its repository without tag
// or digest, the way the container runtimes do: "redis:7" is
// "docker.io/library/redis", "apache/kafka" is "docker.io/apache/kafka".
func Repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	first, _, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		return "docker.io/library/" + ref
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + ref
	}
	return ref
}

// argv is the command line that runs a container of this image: the
// container's command replaces the entrypoint, its args the image's
// default arguments.
func (img Image) argv(command, args []string) ([]string, error) {
	argv := []string{img.Program}
	if len(command) > 0 {
		if command[0] != img.Entrypoint && path.Base(command[0]) != path.Base(img.Program) {
			return nil, fmt.Errorf("command %q is not in this image (its entrypoint is %s)", command[0], img.Entrypoint)
		}
		argv = append(argv, command[1:]...)
	}
	rest := args
	if len(argv) == 1 && len(rest) > 0 && slices.Contains(img.Commands, rest[0]) {
		rest = rest[1:]
	}
	return append(argv, rest...), nil
}
