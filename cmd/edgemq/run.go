package main

// PLACEHOLDER, to be replaced wholesale by the lead engineer when the broker
// is wired: run must serve cfg until ctx is cancelled (SIGINT/SIGTERM), then
// shut down cleanly and return nil, or return the error that stopped it.
// Nothing else in cmd/edgemq depends on what is in this file.

import (
	"context"
	"errors"
	"log/slog"

	"github.com/edgemq/edgemq/config"
)

func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return errors.New("broker not wired yet")
}
