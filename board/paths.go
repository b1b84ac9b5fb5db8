package board

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Paths tells Detect where the kernel and distribution files are. Each
// field is a directory; an empty field means the live system: "/proc",
// "/sys" and "/etc". Tests point them into a fake tree (see PathsUnder).
type Paths struct {
	Proc string // procfs: cpuinfo, meminfo, device-tree
	Sys  string // sysfs: firmware/devicetree, devices/system/cpu, class/dmi
	Etc  string // os-release, openwrt_release

	// Log receives one Debug line per absent file and one Warn line per
	// file that exists but cannot be read. Nil discards.
	Log *slog.Logger
}

// PathsUnder returns Paths for a system whose root directory is root:
// root/proc, root/sys and root/etc.
func PathsUnder(root string) Paths {
	return Paths{
		Proc: filepath.Join(root, "proc"),
		Sys:  filepath.Join(root, "sys"),
		Etc:  filepath.Join(root, "etc"),
	}
}

func (p Paths) withDefaults() Paths {
	if p.Proc == "" {
		p.Proc = "/proc"
	}
	if p.Sys == "" {
		p.Sys = "/sys"
	}
	if p.Etc == "" {
		p.Etc = "/etc"
	}
	p.Log = orDiscard(p.Log)
	return p
}

// maxInfoFile bounds every file Detect reads: /proc/cpuinfo of a large
// server is a few hundred KiB, the other files are a few hundred bytes.
const maxInfoFile = 1 << 20

// read returns the contents of dir/name, or nil when the file is absent or
// unreadable (and says which on p.Log). Pseudo-files in procfs and sysfs
// report size 0, so the read goes to EOF (bounded by maxInfoFile).
func (p Paths) read(dir, name string) []byte {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		p.logReadErr(path, err)
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInfoFile))
	if err != nil {
		p.logReadErr(path, err)
		return nil
	}
	return b
}

func (p Paths) logReadErr(path string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		p.Log.Debug("board: not present", "path", path)
		return
	}
	p.Log.Warn("board: cannot read", "path", path, "err", err)
}

// dtString returns a device-tree string property: the kernel exposes it
// with a trailing NUL (and a list property as NUL-separated strings; this
// returns the first one).
func dtString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimSpace(b))
}

// dtStrings splits a device-tree string-list property ("compatible").
func dtStrings(b []byte) []string {
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		if s = bytes.TrimSpace(s); len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

// orDiscard returns l, or a logger that drops every record when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
