package mqttsn

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// FuzzDecode decodes any input. A rejected input must give an *Error; an
// accepted one must re-encode to exactly Size() octets that decode to the
// same message and re-encode to the same octets (decode -> encode ->
// decode is stable). Forwarder Encapsulations decode their message too.
func FuzzDecode(f *testing.F) {
	for _, c := range codecCases {
		f.Add(c.wire)
	}
	for _, c := range decodeErrorCases {
		f.Add(c.wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		m, err := d.Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		checkStable(t, m)
		if fw, ok := m.(*Forwarder); ok {
			var inner Decoder
			if im, err := inner.Decode(fw.Message); err == nil {
				checkStable(t, im)
			}
		}
	})
}

func checkStable(t *testing.T, m Message) {
	t.Helper()
	enc, err := m.Append(nil)
	if err != nil {
		t.Fatalf("decoded %#v but Append refuses it: %v", m, err)
	}
	if len(enc) != m.Size() {
		t.Fatalf("Append wrote %d octets, Size says %d", len(enc), m.Size())
	}
	if n, err := FrameLen(enc); err != nil || n != len(enc) {
		t.Fatalf("FrameLen(encoding) = %d, %v; want %d", n, err, len(enc))
	}
	var d2 Decoder
	m2, err := d2.Decode(enc)
	if err != nil {
		t.Fatalf("re-decoding % x: %v", enc, err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("unstable:\n first  %#v\n second %#v", m, m2)
	}
	enc2, _ := m2.Append(nil)
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding unstable:\n % x\n % x", enc, enc2)
	}
}

// TestSeedCorpus checks that the checked-in corpus of FuzzDecode holds
// every table case. EDGEMQ_WRITE_CORPUS=1 writes it.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	write := os.Getenv("EDGEMQ_WRITE_CORPUS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range codecCases {
		path := filepath.Join(dir, "seed-"+c.name)
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(c.wire)) + ")\n"
		if write {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("corpus file missing (run with EDGEMQ_WRITE_CORPUS=1): %v", err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s is stale (run with EDGEMQ_WRITE_CORPUS=1)", path)
		}
	}
}
