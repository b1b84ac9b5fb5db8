package board

import (
	"strings"
	"testing"
)

// TestCgroupMemLimit reads the memory limit of the process's cgroup from
// fake /proc and /sys trees: cgroup v2 (the smallest limit on the path
// counts, "max" is none), v1, a hybrid system with the memory controller
// on v1, a cgroup namespace, and no limit at all.
func TestCgroupMemLimit(t *testing.T) {
	const (
		v2mount     = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
		v1mount     = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
		hybridMount = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" + v1mount +
			"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	)
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2 parent limit", map[string]string{
			"proc/self/mountinfo": v2mount,
			"proc/self/cgroup":    "0::/system.slice/edgemq.service\n",
			"sys/fs/cgroup/system.slice/edgemq.service/memory.max": "max\n",
			"sys/fs/cgroup/system.slice/memory.max":                "268435456\n",
			"sys/fs/cgroup/memory.max":                             "1073741824\n",
		}, 256 << 20},
		{"v2 own limit", map[string]string{
			"proc/self/mountinfo":                 v2mount,
			"proc/self/cgroup":                    "0::/docker/abc\n",
			"sys/fs/cgroup/docker/abc/memory.max": "134217728\n",
			"sys/fs/cgroup/docker/memory.max":     "max\n",
		}, 128 << 20},
		{"v1", map[string]string{
			"proc/self/mountinfo": v1mount,
			"proc/self/cgroup":    "5:devices:/\n4:memory:/edgemq\n",
			"sys/fs/cgroup/memory/edgemq/memory.limit_in_bytes": "167772160\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":        "9223372036854771712\n",
		}, 160 << 20},
		{"hybrid: memory on v1, v2 without it", map[string]string{
			"proc/self/mountinfo":                            hybridMount,
			"proc/self/cgroup":                               "4:memory:/a/b\n0::/\n",
			"sys/fs/cgroup/memory/a/b/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/a/memory.limit_in_bytes":   "100000000\n",
		}, 100000000},
		{"v2 namespace root", map[string]string{
			"proc/self/mountinfo":      v2mount,
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "67108864\n",
		}, 64 << 20},
		{"no limit", map[string]string{
			"proc/self/mountinfo":      v2mount,
			"proc/self/cgroup":         "0::/user.slice\n",
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0},
		{"no cgroup files", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.files)
			if got := cgroupMemLimit(PathsUnder(root).withDefaults()); got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
		})
	}
}

// TestInfoMemory: the memory edgemq sizes itself for is the cgroup's limit
// when it is below MemTotal, and the version line shows both.
func TestInfoMemory(t *testing.T) {
	in := Info{MemTotal: 4 << 30, MemLimit: 256 << 20, GOARCH: "arm64"}
	if in.Memory() != 256<<20 {
		t.Fatalf("Memory() = %d", in.Memory())
	}
	if s := in.String(); !strings.Contains(s, "4.0 GiB (cgroup limit 256 MiB)") {
		t.Fatalf("String() = %q", s)
	}
	in.MemLimit = 8 << 30
	if in.Memory() != 4<<30 || strings.Contains(in.String(), "limit") {
		t.Fatalf("a limit above RAM: Memory() = %d, %q", in.Memory(), in.String())
	}
	if (Info{MemLimit: 64 << 20}).Memory() != 64<<20 {
		t.Fatal("MemLimit without MemTotal")
	}
}
