package board

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroupMemLimit returns the memory limit of the cgroup this process runs
// in: the smallest memory.max (cgroup v2) or memory.limit_in_bytes (v1)
// on the path from its cgroup up to the root of the hierarchy, 0 when
// there is none or it cannot be read. A container (Docker, systemd's
// MemoryMax=, procd jails) has less memory than /proc/meminfo says, and
// edgemq must size itself for the smaller.
//
// The cgroup comes from proc/self/cgroup, the hierarchies' mount points
// from proc/self/mountinfo; mount points under /sys are looked up under
// fs.Sys, so that tests can use a fake tree.
func cgroupMemLimit(fs Paths) int64 {
	type mount struct{ root, point string }
	var v2 *mount
	var v1 *mount
	for _, line := range strings.Split(string(fs.read(filepath.Join(fs.Proc, "self"), "mountinfo")), "\n") {
		// 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		m := &mount{root: f[3], point: f[4]}
		switch {
		case g[0] == "cgroup2" && v2 == nil:
			v2 = m
		case g[0] == "cgroup" && v1 == nil && hasOption(g[2], "memory"):
			v1 = m
		}
	}
	var limit int64
	for _, line := range strings.Split(string(fs.read(filepath.Join(fs.Proc, "self"), "cgroup")), "\n") {
		// "0::/path" (v2) or "4:memory:/path" (v1)
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "" && v2 != nil:
			limit = minLimit(limit, walkLimits(fs, v2.root, v2.point, parts[2], "memory.max"))
		case hasOption(parts[1], "memory") && v1 != nil:
			limit = minLimit(limit, walkLimits(fs, v1.root, v1.point, parts[2], "memory.limit_in_bytes"))
		}
	}
	return limit
}

// walkLimits reads file in the cgroup directory of path and in each parent
// up to the mount point, and returns the smallest limit found (0: none).
// root is the part of the hierarchy the mount shows (not "/" inside a
// cgroup namespace or a bind mount).
func walkLimits(fs Paths, root, point, path, file string) int64 {
	rel, ok := strings.CutPrefix(path, root)
	if !ok {
		return 0 // the process's cgroup is outside what the mount shows
	}
	base := point
	if rest, ok := strings.CutPrefix(point, "/sys/"); ok {
		base = filepath.Join(fs.Sys, rest)
	}
	dir := filepath.Join(base, rel)
	var limit int64
	for {
		limit = minLimit(limit, parseLimit(fs.read(dir, file)))
		if dir == base || len(dir) < len(base) {
			return limit
		}
		dir = filepath.Dir(dir)
	}
}

// parseLimit parses a memory limit file: a number of bytes, or "max" (v2)
// or a huge number (v1's unlimited is close to 2^63) for no limit.
func parseLimit(b []byte) int64 {
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}

// minLimit returns the smaller of two limits, where 0 means none.
func minLimit(a, b int64) int64 {
	if b > 0 && (a == 0 || b < a) {
		return b
	}
	return a
}

// hasOption reports whether the comma-separated list has o.
func hasOption(list, o string) bool { return slices.Contains(strings.Split(list, ","), o) }
