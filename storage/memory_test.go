package storage

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkBucket verifies the chunk invariants: no empty chunk, keys strictly
// ascending within and across chunks, no chunk above memChunkMax, n right.
func checkBucket(t *testing.T, b *memBucket) {
	t.Helper()
	n := 0
	var prev []byte
	for i, c := range b.chunks {
		if len(c.items) == 0 || len(c.items) > memChunkMax {
			t.Fatalf("chunk %d of %d has %d items", i, len(b.chunks), len(c.items))
		}
		for _, e := range c.items {
			if prev != nil && bytes.Compare(prev, e.k) >= 0 {
				t.Fatalf("chunk %d: key %x after %x", i, e.k, prev)
			}
			prev = e.k
			n++
		}
	}
	if n != b.n {
		t.Fatalf("bucket counts %d entries, holds %d", b.n, n)
	}
}

// TestMemBucketModel drives a memBucket with random puts and deletes,
// mixed with queue-like runs, and compares it with a map after each step.
func TestMemBucketModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b memBucket
	model := map[string]string{}
	key := func() []byte { return []byte{byte(rng.IntN(8)), byte(rng.IntN(256)), byte(rng.IntN(4))} }
	for step := range 200_000 {
		switch r := rng.IntN(10); {
		case r < 5:
			k := key()
			v := []byte{byte(step)}
			b.put(memEntry{k: k, v: v})
			model[string(k)] = string(v)
		default:
			k := key()
			b.delete(k)
			delete(model, string(k))
		}
		if step%5000 == 0 {
			checkBucket(t, &b)
		}
	}
	checkBucket(t, &b)
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	got := b.collect(nil, false, len(keys)+1, nil)
	if len(got) != len(keys) {
		t.Fatalf("bucket holds %d keys, model %d", len(got), len(keys))
	}
	for i, e := range got {
		if string(e.k) != keys[i] || string(e.v) != model[keys[i]] {
			t.Fatalf("entry %d: %x=%x, model %x=%x", i, e.k, e.v, keys[i], model[keys[i]])
		}
	}
	// collect from inside and after, across chunk boundaries.
	for range 1000 {
		from := key()
		i, _ := slices.BinarySearch(keys, string(from))
		got := b.collect(from, false, 300, nil)
		want := keys[i:min(i+300, len(keys))]
		if len(got) != len(want) || (len(got) > 0 && string(got[0].k) != want[0]) {
			t.Fatalf("collect from %x: %d entries, want %d", from, len(got), len(want))
		}
		if after := b.collect(from, true, 1, nil); len(after) == 1 && string(after[0].k) == string(from) {
			t.Fatalf("collect after %x returned it", from)
		}
	}
}

// TestMemBucketQueue checks that a FIFO workload keeps chunks full and
// releases drained chunks.
func TestMemBucketQueue(t *testing.T) {
	var b memBucket
	for i := range uint64(10_000) {
		b.put(memEntry{k: seqKey(i), v: nil})
	}
	checkBucket(t, &b)
	if want := (10_000 + memChunkMax - 1) / memChunkMax; len(b.chunks) != want {
		t.Fatalf("appending 10000 keys made %d chunks, want %d full ones", len(b.chunks), want)
	}
	for i := range uint64(9_990) {
		b.delete(seqKey(i))
	}
	checkBucket(t, &b)
	if len(b.chunks) != 1 || b.n != 10 {
		t.Fatalf("after draining: %d chunks, %d entries", len(b.chunks), b.n)
	}
}

func BenchmarkMemoryQueue(b *testing.B) {
	b.ReportAllocs()
	e := NewMemory()
	defer e.Close()
	var batch Batch
	val := make([]byte, 100)
	const depth = 1000
	for i := 0; b.Loop(); i++ {
		batch.Reset()
		batch.Put("q", seqKey(uint64(i)), val)
		if i >= depth {
			batch.Delete("q", seqKey(uint64(i-depth)))
		}
		if err := e.Write(&batch, false); err != nil {
			b.Fatal(err)
		}
	}
}
