package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input panics Parse, that every problem is
// reported as an Error with a message and a sane position, and that what
// Parse accepts also passes Validate.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	if full, err := os.ReadFile(filepath.Join("testdata", "full.yaml")); err == nil {
		f.Add(full)
	}
	f.Add([]byte("listeners:\n  - {type: ws, address: \":8080\", path: mqtt}\n"))
	f.Add([]byte("mqttsn: {predefined_topics: {1: a, 01: b, 0: c}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("bridges: [{name: a, address: \"tls://[::1]:8883\", client_id: c, topics: [{pattern: \"+/#\", direction: out, rewrite: \"{1}/{2}\"}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if c != nil {
				t.Fatal("a Config came back with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			for _, e := range errs {
				if e.Msg == "" || e.File != "fuzz.yaml" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("bad Error %#v", e)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
	})
}
