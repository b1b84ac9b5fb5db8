//go:build !linux

package board

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// OpenWatchdog is Linux only; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func OpenWatchdog(path string, timeout time.Duration, log *slog.Logger) (*Watchdog, error) {
	return nil, fmt.Errorf("board: watchdog %s: %w", path, errors.ErrUnsupported)
}

func (w *Watchdog) keepalive() error { return errors.ErrUnsupported }
