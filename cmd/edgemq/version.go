package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/edgemq/edgemq/board"
)

// Set at link time: go build -ldflags "-X main.version=1.2.0 -X main.commit=abc1234".
// When empty they are read from the build information the Go toolchain
// embeds (module version, VCS revision). They are never written at run time.
var (
	version string
	commit  string
)

// buildInfo returns the version and commit: the link-time values when set,
// else those the toolchain recorded, else "(devel)" and "unknown".
func buildInfo() (ver, rev string, settings map[string]string) {
	ver, rev = version, commit
	settings = make(map[string]string)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if ver == "" {
			ver = bi.Main.Version
		}
	}
	if rev == "" {
		rev = settings["vcs.revision"]
		if rev != "" && settings["vcs.modified"] == "true" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, settings
}

// platform is GOOS/GOARCH with the variant that matters on edge boards
// (GOARM, GOMIPS, GOAMD64...), as recorded at build time.
func platform(settings map[string]string) string {
	p := runtime.GOOS + "/" + runtime.GOARCH
	for _, k := range []string{"GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOAMD64", "GORISCV64", "GO386"} {
		if v := settings[k]; v != "" {
			p += " " + k + "=" + v
		}
	}
	return p
}

// cmdVersion implements "edgemq version".
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		return usageError(stderr, "version takes no arguments")
	}
	ver, rev, settings := buildInfo()
	fmt.Fprintf(stdout, "edgemq %s\ncommit: %s\nplatform: %s\ngo: %s\n", ver, rev, platform(settings), runtime.Version())
	fmt.Fprintf(stdout, "board: %s\n", board.Detect(board.Paths{}))
	return 0
}

// versionString is the version and commit for $SYS/broker/version.
func versionString() string {
	ver, rev, _ := buildInfo()
	return ver + " (" + rev + ")"
}
