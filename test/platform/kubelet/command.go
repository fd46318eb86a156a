package kubelet

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// tools are the host programs containers are started through: iproute2's
// ip (network namespace and its /etc files), util-linux's unshare (mount and
// UTS namespaces), mount, setpriv (user, groups, capabilities) and nsenter
// (exec probes), and bash, which ties them together. Not sh: dash drops
// environment variables whose names are not shell names, and images rely
// on those (Elasticsearch reads xpack.security.enabled).
type tools struct {
	ip, unshare, mount, mkdir, setpriv, nsenter, bash, env string
}

func findTools() (tools, error) {
	var t tools
	var missing []string
	for _, f := range []struct {
		dst  *string
		name string
	}{{&t.ip, "ip"}, {&t.unshare, "unshare"}, {&t.mount, "mount"}, {&t.mkdir, "mkdir"},
		{&t.setpriv, "setpriv"}, {&t.nsenter, "nsenter"}, {&t.bash, "bash"}, {&t.env, "env"}} {
		p, err := exec.LookPath(f.name)
		if err != nil {
			missing = append(missing, f.name)
			continue
		}
		*f.dst = p
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("missing programs %s: install iproute2 and util-linux (hack/ci/setup-platform.sh)", strings.Join(missing, ", "))
	}
	return t, nil
}

// identity is who a container's process runs as.
type identity struct {
	uid, gid int64
	groups   []int64
}

// containerIdentity applies the pod's and the container's security
// context over the image's user, as the runtime does.
func containerIdentity(pod *corev1.Pod, c *corev1.Container, img Image) (identity, error) {
	id := identity{uid: img.User, gid: img.User}
	nonRoot := false
	if sc := pod.Spec.SecurityContext; sc != nil {
		id.uid = derefInt64(sc.RunAsUser, id.uid)
		id.gid = derefInt64(sc.RunAsGroup, id.gid)
		nonRoot = derefBool(sc.RunAsNonRoot, nonRoot)
		if sc.FSGroup != nil {
			id.groups = append(id.groups, *sc.FSGroup)
		}
		id.groups = append(id.groups, sc.SupplementalGroups...)
	}
	if sc := c.SecurityContext; sc != nil {
		id.uid = derefInt64(sc.RunAsUser, id.uid)
		id.gid = derefInt64(sc.RunAsGroup, id.gid)
		nonRoot = derefBool(sc.RunAsNonRoot, nonRoot)
	}
	if nonRoot && id.uid == 0 {
		return id, configErrorf("container has runAsNonRoot and image will run as root")
	}
	slices.Sort(id.groups)
	id.groups = slices.Compact(id.groups)
	return id, nil
}

// bindMount is a volume (or a path in it) mounted into a container.
type bindMount struct {
	source, target string
	readOnly       bool
}

// containerMounts resolves a container's volumeMounts against the sandbox's
// volumes, creating subPath directories as the kubelet does.
func containerMounts(sb *sandbox, c *corev1.Container) ([]bindMount, error) {
	var mounts []bindMount
	for _, m := range c.VolumeMounts {
		vol, ok := sb.volumes[m.Name]
		if !ok {
			return nil, configErrorf("volumeMount %q: no volume of that name", m.Name)
		}
		src := vol.path
		if m.SubPath != "" {
			if filepath.IsAbs(m.SubPath) || strings.HasPrefix(filepath.Clean(m.SubPath), "..") {
				return nil, configErrorf("volumeMount %q: subPath %q is not relative", m.Name, m.SubPath)
			}
			src = filepath.Join(src, m.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		mounts = append(mounts, bindMount{source: src, target: path.Clean(m.MountPath), readOnly: m.ReadOnly || vol.readOnly})
	}
	// Parents first, so that a mount inside another volume lands in it.
	slices.SortFunc(mounts, func(a, b bindMount) int { return strings.Compare(a.target, b.target) })
	return mounts, nil
}

// launch is everything that starts one container process.
type launch struct {
	netns        string
	hostname     string
	mounts       []bindMount
	readOnlyRoot bool
	workDir      string
	id           identity
	noNewPrivs   bool
	dropAllCaps  bool
	argv         []string
	env          map[string]string
}

// programsMount is where a program's directory is bound when a volume would
// hide it.
const programsMount = "/run/platform-kubelet-programs"

// hiddenBy reports whether a mount's target is program's path or one of its
// parent directories.
func hiddenBy(program string, mounts []bindMount) bool {
	for _, m := range mounts {
		if t := path.Clean(m.target); program == t || strings.HasPrefix(program, strings.TrimSuffix(t, "/")+"/") {
			return true
		}
	}
	return false
}

// command is the container's process: `ip netns exec` (the pod's network
// namespace, its hosts and resolv.conf) runs unshare (private mount and UTS
// namespaces), whose shell sets the host name, mounts the volumes and execs
// setpriv, which execs the program as the container's user. Each step execs
// the next, so the process is the program.
//
// Volumes are bind-mounted in two steps: first each source at a staging
// directory, then each staged one at its mountPath, so that a mount over a
// directory (/tmp) cannot hide the source of a later one (a volume under
// /tmp). Read-only mounts are remounted so, and the root last if asked.
// Mountpoints that do not exist are created on the host's file system
// (empty directories or files), as an image would hold them; the staging
// directory is removed before the program starts.
func (t tools) command(l launch) *exec.Cmd {
	var s strings.Builder
	// The script's own commands use the host's PATH; the program gets the
	// container's back.
	s.WriteString("set -e\ncontainer_path=$PATH\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n")
	fmt.Fprintf(&s, "printf %%s %s >/proc/sys/kernel/hostname\n", quote(l.hostname))
	if len(l.mounts) > 0 {
		s.WriteString("stage=/.kubelet-mounts.$$\n")
		fmt.Fprintf(&s, "%s \"$stage\"\n", t.mkdir)
		s.WriteString("trap 'for m in \"$stage\"/*; do umount -l \"$m\" 2>/dev/null; rm -df \"$m\"; done; rmdir \"$stage\"' EXIT\n")
	}
	// A program under a volume's mountPath (a checkout under /tmp, which
	// every chat-server pod mounts an emptyDir over) would be hidden by it:
	// its directory is bound first at programsMount, an empty directory on
	// the host's /run that no pod mounts.
	argv := l.argv
	if len(argv) > 0 && hiddenBy(argv[0], l.mounts) {
		fmt.Fprintf(&s, "%s -p %s\n%s --bind %s %s\n", t.mkdir, programsMount, t.mount, quote(path.Dir(argv[0])), programsMount)
		argv = append([]string{path.Join(programsMount, path.Base(argv[0]))}, argv[1:]...)
	}
	isFile := make([]bool, len(l.mounts))
	for i, m := range l.mounts {
		st, err := os.Stat(m.source)
		isFile[i] = err == nil && !st.IsDir()
		if isFile[i] {
			fmt.Fprintf(&s, ": >\"$stage/%d\"\n", i)
		} else {
			fmt.Fprintf(&s, "%s \"$stage/%d\"\n", t.mkdir, i)
		}
		fmt.Fprintf(&s, "%s --bind %s \"$stage/%d\"\n", t.mount, quote(m.source), i)
	}
	for i, m := range l.mounts {
		if isFile[i] {
			fmt.Fprintf(&s, "%s -p %s\n[ -e %s ] || : >%s\n", t.mkdir, quote(path.Dir(m.target)), quote(m.target), quote(m.target))
		} else {
			fmt.Fprintf(&s, "%s -p %s\n", t.mkdir, quote(m.target))
		}
		fmt.Fprintf(&s, "%s --bind \"$stage/%d\" %s\n", t.mount, i, quote(m.target))
		if m.readOnly {
			fmt.Fprintf(&s, "%s -o remount,bind,ro %s\n", t.mount, quote(m.target))
		}
	}
	if len(l.mounts) > 0 {
		s.WriteString("trap - EXIT\n")
		s.WriteString("for m in \"$stage\"/*; do umount \"$m\"; rm -df \"$m\"; done\nrmdir \"$stage\"\n")
	}
	if l.readOnlyRoot {
		fmt.Fprintf(&s, "%s -o remount,bind,ro /\n", t.mount)
	}
	fmt.Fprintf(&s, "cd %s\nPATH=$container_path\n", quote(l.workDir))
	// bash exports PWD and OLDPWD after cd and always SHLVL: the program
	// gets exactly the container's environment.
	var strip []string
	for _, name := range []string{"PWD", "OLDPWD"} {
		if _, ok := l.env[name]; !ok {
			fmt.Fprintf(&s, "unset %s\n", name)
		}
	}
	if _, ok := l.env["SHLVL"]; !ok {
		strip = append(strip, t.env, "-u", "SHLVL", "--")
	}
	fmt.Fprintf(&s, "exec %s --reuid=%d --regid=%d", t.setpriv, l.id.uid, l.id.gid)
	if len(l.id.groups) > 0 {
		gs := make([]string, len(l.id.groups))
		for i, g := range l.id.groups {
			gs[i] = strconv.FormatInt(g, 10)
		}
		fmt.Fprintf(&s, " --groups=%s", strings.Join(gs, ","))
	} else {
		s.WriteString(" --clear-groups")
	}
	if l.noNewPrivs {
		s.WriteString(" --no-new-privs")
	}
	if l.dropAllCaps {
		s.WriteString(" --bounding-set=-all --inh-caps=-all")
	}
	s.WriteString(" --")
	for _, w := range strip {
		s.WriteString(" " + quote(w))
	}
	s.WriteString(` "$@"` + "\n")

	args := []string{"netns", "exec", l.netns, t.unshare, "--mount", "--uts", "--propagation", "private", "--",
		t.bash, "-c", s.String(), "container"}
	cmd := exec.Command(t.ip, append(args, argv...)...)
	cmd.Env = envList(l.env)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// execCommand runs a command inside a running container's namespaces as
// its user, with its environment: exec probes.
func (t tools) execCommand(pid int, id identity, env map[string]string, argv []string) *exec.Cmd {
	args := []string{"--target", strconv.Itoa(pid), "--net", "--mount", "--uts",
		"--setuid", strconv.FormatInt(id.uid, 10), "--setgid", strconv.FormatInt(id.gid, 10), "--"}
	cmd := exec.Command(t.nsenter, append(args, argv...)...)
	cmd.Env = envList(env)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// lookPath finds a program in a container's PATH on this machine (the
// containers share its file system).
func lookPath(name string, env map[string]string) (string, bool) {
	if strings.Contains(name, "/") {
		st, err := os.Stat(name)
		return name, err == nil && !st.IsDir() && st.Mode().Perm()&0o111 != 0
	}
	for _, dir := range filepath.SplitList(env["PATH"]) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode().Perm()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	return list
}

// quote makes s one word for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func derefInt64(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

func derefBool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
