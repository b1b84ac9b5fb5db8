package storage

import (
	"fmt"
	"sync"
	"testing"
)

// TestBoltQueueFill checks that appending queue entries packs bolt pages
// (boltAppendFill) instead of leaving them half empty, and that random
// inserts in the same run still work.
func TestBoltQueueFill(t *testing.T) {
	v := newEnv(t, kind{EngineBolt, true})
	base, _ := v.e.Size()
	const n, size = 20_000, 200
	var b Batch
	for i := range uint64(n) {
		b.Put("q", seqKey(i), make([]byte, size))
		if b.Len() == 100 {
			v.write(&b, false)
			b.Reset()
		}
	}
	used, _ := v.e.Size()
	data := int64(n * (size + 8))
	// At bolt's default fill (0.5) this takes about 2.1x the data.
	if used-base > data*3/2 {
		t.Fatalf("%d bytes of queue entries use %d bytes of pages", data, used-base)
	}
	t.Logf("%d bytes of queue entries use %d bytes of pages", data, used-base)
	// A non-append put into the same bucket in one batch with appends.
	b.Put("q", seqKey(n+1), []byte("x"))
	b.Put("q", seqKey(5), []byte("y"))
	v.write(&b, false)
	v.wantValue("q", seqKey(5), []byte("y"))
	v.wantValue("q", seqKey(n+1), []byte("x"))
}

// TestBoltMixedSync runs concurrent writes with and without sync; under
// -race it checks that toggling bolt's NoSync is guarded.
func TestBoltMixedSync(t *testing.T) {
	v := newEnv(t, kind{EngineBolt, true})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				var b Batch
				b.Put("m", fmt.Appendf(nil, "%d-%d", w, i), []byte("v"))
				if err := v.e.Write(&b, (w+i)%2 == 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if keys, _ := v.scan("m", nil); len(keys) != 160 {
		t.Fatalf("%d keys, want 160", len(keys))
	}
}
