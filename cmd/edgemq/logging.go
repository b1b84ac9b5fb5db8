package main

import (
	"io"
	"log/slog"

	"github.com/edgemq/edgemq/config"
)

// newLogger builds the process logger from the log section of the config:
// text or JSON lines at the configured level, written to w (stderr).
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slogLevel(c.Level)}
	if c.Format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
