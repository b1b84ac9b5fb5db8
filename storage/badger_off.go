//go:build !((amd64 || arm64) && !nobadger)

// This file replaces badger.go on targets where badger v4 does not work
// (32-bit ARM, MIPS, riscv64 and the rest) or with the nobadger tag, so
// that those binaries do not link badger at all.

package storage

import (
	"fmt"
	"log/slog"
	"runtime"
)

// badgerBuiltIn says whether this binary contains the badger engine.
const badgerBuiltIn = false

// openBadger explains that badger is not in this binary.
func openBadger(dir string, o BadgerOptions, syncWrites bool, log *slog.Logger) (Engine, error) {
	return nil, fmt.Errorf("storage: badger engine is not built into this binary (%s/%s); use storage.engine: bolt",
		runtime.GOOS, runtime.GOARCH)
}
