package board

import (
	"testing"
	"time"
)

func TestFeederInterval(t *testing.T) {
	tests := []struct {
		interval, timeout, want time.Duration
	}{
		{0, 30 * time.Second, 10 * time.Second}, // a third of the timeout
		{-1, 0, 5 * time.Second},                // unknown timeout
		{time.Second, 0, time.Second},           // as asked
		{5 * time.Second, 30 * time.Second, 5 * time.Second},
		{15 * time.Second, 30 * time.Second, 15 * time.Second},
		{20 * time.Second, 30 * time.Second, 15 * time.Second}, // would reset a healthy board
		{time.Minute, 30 * time.Second, 15 * time.Second},
	}
	for _, tc := range tests {
		if got := feederInterval(tc.interval, tc.timeout); got != tc.want {
			t.Errorf("feederInterval(%v, %v) = %v, want %v", tc.interval, tc.timeout, got, tc.want)
		}
	}
}
