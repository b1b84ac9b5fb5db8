package faults

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// Full reports whether the suite runs at full length (make faults).
func Full() bool { return os.Getenv("EDGEMQ_FAULTS") == "full" }

// Figure is one measured value of a scenario, printed as key=value.
type Figure struct {
	Key   string
	Value any
}

// F makes a Figure.
func F(key string, value any) Figure { return Figure{key, value} }

// Report prints the scenario's result line, which scripts/faults.sh
// collects:
//
//	FAULT <name> PASS|FAIL key=value ...
//
// It reads PASS or FAIL from the test's state, so call it last (deferred):
// a t.Fatal before it still yields a FAIL line.
func Report(t *testing.T, name string, figures ...Figure) {
	t.Helper()
	status := "PASS"
	if t.Failed() {
		status = "FAIL"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "FAULT %s %s", name, status)
	for _, f := range figures {
		v := fmt.Sprint(f.Value)
		if d, ok := f.Value.(time.Duration); ok {
			v = d.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, " %s=%s", f.Key, v)
	}
	// Printed to stdout directly (not t.Log) so that the line is whole and
	// easy to collect even when the test fails.
	fmt.Println(b.String())
}

// Figures collects figures while a scenario runs, for a deferred Report.
type Figures struct {
	m map[string]any
}

// Set records a figure.
func (f *Figures) Set(key string, v any) {
	if f.m == nil {
		f.m = map[string]any{}
	}
	f.m[key] = v
}

// List returns the figures in key order.
func (f *Figures) List() []Figure {
	keys := make([]string, 0, len(f.m))
	for k := range f.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Figure, 0, len(keys))
	for _, k := range keys {
		out = append(out, Figure{k, f.m[k]})
	}
	return out
}
