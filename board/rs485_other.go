//go:build !linux

package board

import (
	"errors"
	"fmt"
)

// SetRS485 is Linux only; elsewhere it returns an error wrapping
// ErrRS485Unsupported and errors.ErrUnsupported.
func SetRS485(fd uintptr, cfg RS485Config) error {
	if _, err := cfg.encode(); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w", ErrRS485Unsupported, errors.ErrUnsupported)
}

// GetRS485 is Linux only; see SetRS485.
func GetRS485(fd uintptr) (RS485Config, error) {
	return RS485Config{}, fmt.Errorf("%w: %w", ErrRS485Unsupported, errors.ErrUnsupported)
}
