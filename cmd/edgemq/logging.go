package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/logs"
)

// Log pipeline settings.
const (
	// warningRing is how many kinds of warning the status page shows.
	warningRing = 50
	// warningWindow is how long repeats of a warning are held back.
	warningWindow = time.Minute
)

// newLogger builds the process logger from the log section of the config:
// text or JSON lines at the configured level, written to w (stderr), with
// secrets redacted and repeated warnings rate-limited. In front sits the
// ring of recent warnings for the status page (see warningsOf).
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slogLevel(c.Level), ReplaceAttr: logs.Redact}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == config.LogJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	rl := logs.NewRateLimiter(h, logs.RateLimitOptions{Window: warningWindow})
	return slog.New(logs.NewRing(warningRing).Wrap(rl))
}

// warningsOf returns the ring and rate limiter of a logger built by
// newLogger (or derived from one with With), or nils.
func warningsOf(log *slog.Logger) (*logs.Ring, *logs.RateLimiter) {
	rh, ok := log.Handler().(*logs.RingHandler)
	if !ok {
		return nil, nil
	}
	rl, _ := rh.Next().(*logs.RateLimiter)
	return rh.Ring(), rl
}

// closeLogger writes the counts of warnings still held back by the rate
// limiter; call it last.
func closeLogger(log *slog.Logger) {
	if _, rl := warningsOf(log); rl != nil {
		rl.Close()
	}
}

// slogLevel maps a config level to slog's; config validation has already
// refused any other value.
func slogLevel(l config.LogLevel) slog.Level {
	switch l {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarn:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
