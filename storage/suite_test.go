package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// kind is one engine under test.
type kind struct {
	name       string
	persistent bool
}

// kinds returns every engine compiled into this test binary.
func kinds() []kind {
	k := []kind{{EngineMemory, false}, {EngineBolt, true}}
	if badgerBuiltIn {
		k = append(k, kind{EngineBadger, true})
	}
	return k
}

// env is one engine opened for a test, reopenable when persistent.
type env struct {
	t    testing.TB
	kind kind
	dir  string
	e    Engine
}

func newEnv(t testing.TB, k kind) *env {
	t.Helper()
	v := &env{t: t, kind: k, dir: t.TempDir()}
	v.e = v.open()
	t.Cleanup(func() {
		if v.e != nil {
			v.e.Close()
		}
	})
	return v
}

func (v *env) options() Options {
	o := Options{Engine: v.kind.name}
	if v.kind.persistent {
		o.Dir = v.dir
	}
	return o
}

func (v *env) open() Engine {
	v.t.Helper()
	e, err := OpenEngine(v.options())
	if err != nil {
		v.t.Fatalf("open %s: %v", v.kind.name, err)
	}
	if e.Name() != v.kind.name {
		v.t.Fatalf("opened engine %q, want %q", e.Name(), v.kind.name)
	}
	return e
}

// reopen closes and opens the engine again; false for memory, which cannot.
func (v *env) reopen() bool {
	v.t.Helper()
	if !v.kind.persistent {
		return false
	}
	if err := v.e.Close(); err != nil {
		v.t.Fatalf("close: %v", err)
	}
	v.e = nil
	v.e = v.open()
	return true
}

func (v *env) write(b *Batch, sync bool) {
	v.t.Helper()
	if err := v.e.Write(b, sync); err != nil {
		v.t.Fatalf("write %d ops: %v", b.Len(), err)
	}
}

func (v *env) put(bucket, key, value string) {
	v.t.Helper()
	var b Batch
	b.Put(bucket, []byte(key), []byte(value))
	v.write(&b, false)
}

func (v *env) wantValue(bucket string, key, want []byte) {
	v.t.Helper()
	got, err := v.e.Get(bucket, key)
	if err != nil {
		v.t.Fatalf("get %q/%q: %v", bucket, key, err)
	}
	if !bytes.Equal(got, want) {
		v.t.Fatalf("get %q/%q = %q (%d bytes), want %q (%d bytes)", bucket, key, trunc(got), len(got), trunc(want), len(want))
	}
}

func (v *env) wantMissing(bucket string, key []byte) {
	v.t.Helper()
	got, err := v.e.Get(bucket, key)
	if !errors.Is(err, ErrNotFound) {
		v.t.Fatalf("get %q/%q = %q, %v; want ErrNotFound", bucket, key, trunc(got), err)
	}
}

// scan returns copies of every key and value in bucket from from.
func (v *env) scan(bucket string, from []byte) (keys, vals [][]byte) {
	v.t.Helper()
	err := v.e.Scan(bucket, from, func(k, val []byte) bool {
		keys = append(keys, bytes.Clone(k))
		vals = append(vals, bytes.Clone(val))
		return true
	})
	if err != nil {
		v.t.Fatalf("scan %q from %q: %v", bucket, from, err)
	}
	return keys, vals
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// TestSuite runs the conformance suite against every engine compiled in.
func TestSuite(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, k kind)
	}{
		{"PutGetDelete", testPutGetDelete},
		{"DeleteMissing", testDeleteMissing},
		{"ScanOrder", testScanOrder},
		{"BucketIsolation", testBucketIsolation},
		{"EmptyValue", testEmptyValue},
		{"LargeValue", testLargeValue},
		{"ManySmallKeys", testManySmallKeys},
		{"ManyLargeValues", testManyLargeValues},
		{"BatchAtomicity", testBatchAtomicity},
		{"BatchOrder", testBatchOrder},
		{"InvalidOps", testInvalidOps},
		{"Reopen", testReopen},
		{"FIFOQueue", testFIFOQueue},
		{"ConcurrentCommit", testConcurrentCommit},
		{"StoreSyncModes", testStoreSyncModes},
		{"Full", testFull},
		{"Closed", testClosed},
	}
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, k) })
			}
		})
	}
}

func testPutGetDelete(t *testing.T, k kind) {
	v := newEnv(t, k)
	v.wantMissing("s", []byte("k")) // bucket does not exist yet
	val := []byte("v1")
	var b Batch
	b.Put("s", []byte("k"), val)
	v.write(&b, true)
	val[0] = 'X' // the engine must have copied it
	v.wantValue("s", []byte("k"), []byte("v1"))

	got, _ := v.e.Get("s", []byte("k"))
	got[0] = 'Y' // Get returns a copy
	v.wantValue("s", []byte("k"), []byte("v1"))

	v.put("s", "k", "v2")
	v.wantValue("s", []byte("k"), []byte("v2"))
	v.wantMissing("s", []byte("k2"))
	v.wantMissing("s", []byte("j"))

	b.Reset()
	b.Delete("s", []byte("k"))
	v.write(&b, true)
	v.wantMissing("s", []byte("k"))
	if keys, _ := v.scan("s", nil); len(keys) != 0 {
		t.Fatalf("scan after delete: %q", keys)
	}
}

func testDeleteMissing(t *testing.T, k kind) {
	v := newEnv(t, k)
	var b Batch
	b.Delete("nobucket", []byte("k"))
	v.write(&b, true)
	v.put("s", "a", "1")
	b.Reset()
	b.Delete("s", []byte("missing"))
	b.Delete("s", []byte("a"))
	b.Delete("s", []byte("a"))
	v.write(&b, true)
	v.wantMissing("s", []byte("a"))
	v.wantMissing("nobucket", []byte("k"))
}

func testScanOrder(t *testing.T, k kind) {
	v := newEnv(t, k)
	want := [][]byte{
		{0x00}, {0x00, 0x00}, {0x01}, []byte("a"), []byte("a\x00"), []byte("a\x00b"),
		[]byte("ab"), []byte("abc"), []byte("b"), {0x7f}, {0x80}, {0xff}, {0xff, 0x00}, {0xff, 0xff},
	}
	var b Batch
	for _, i := range rand.Perm(len(want)) {
		b.Put("s", want[i], append([]byte("v"), want[i]...))
	}
	v.write(&b, false)

	keys, vals := v.scan("s", nil)
	if len(keys) != len(want) {
		t.Fatalf("scan returned %d keys, want %d: %q", len(keys), len(want), keys)
	}
	for i := range want {
		if !bytes.Equal(keys[i], want[i]) || !bytes.Equal(vals[i], append([]byte("v"), want[i]...)) {
			t.Fatalf("scan[%d] = %q=%q, want %q", i, keys[i], vals[i], want[i])
		}
	}
	for _, c := range []struct {
		from  []byte
		first []byte // nil: nothing
		n     int
	}{
		{[]byte{}, []byte{0x00}, len(want)},
		{[]byte("ab"), []byte("ab"), 8},
		{[]byte("aa"), []byte("ab"), 8},
		{[]byte("a\x00a"), []byte("a\x00b"), 9},
		{[]byte{0xff, 0xff}, []byte{0xff, 0xff}, 1},
		{[]byte{0xff, 0xff, 0x00}, nil, 0},
	} {
		keys, _ := v.scan("s", c.from)
		if len(keys) != c.n || (c.n > 0 && !bytes.Equal(keys[0], c.first)) {
			t.Errorf("scan from %q: %d keys starting %q, want %d starting %q", c.from, len(keys), keys, c.n, c.first)
		}
	}
	// Early stop.
	calls := 0
	if err := v.e.Scan("s", nil, func(k, _ []byte) bool { calls++; return calls < 3 }); err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Fatalf("fn called %d times after returning false at call 3", calls)
	}
	if keys, _ := v.scan("missing", nil); len(keys) != 0 {
		t.Fatalf("scan of missing bucket: %q", keys)
	}
}

func testBucketIsolation(t *testing.T, k kind) {
	v := newEnv(t, k)
	buckets := []string{"q", "q1", "qq", "r", "Q"}
	var b Batch
	for _, bk := range buckets {
		for _, key := range []string{"1", "1x", "a", "\xff"} {
			b.Put(bk, []byte(key), []byte(bk+"="+key))
		}
	}
	v.write(&b, false)
	for _, bk := range buckets {
		keys, vals := v.scan(bk, nil)
		if len(keys) != 4 {
			t.Fatalf("bucket %q: %d keys %q, want 4", bk, len(keys), keys)
		}
		for i := range keys {
			if want := bk + "=" + string(keys[i]); string(vals[i]) != want {
				t.Fatalf("bucket %q key %q = %q, want %q", bk, keys[i], vals[i], want)
			}
		}
	}
	b.Reset()
	b.Delete("q", []byte("1"))
	b.Delete("q", []byte("a"))
	v.write(&b, false)
	v.wantMissing("q", []byte("1"))
	v.wantValue("q1", []byte("1"), []byte("q1=1"))
	v.wantValue("qq", []byte("a"), []byte("qq=a"))
	if keys, _ := v.scan("q", nil); len(keys) != 2 {
		t.Fatalf("bucket q after deletes: %q", keys)
	}
}

func testEmptyValue(t *testing.T, k kind) {
	v := newEnv(t, k)
	var b Batch
	b.Put("s", []byte("nil"), nil)
	b.Put("s", []byte("empty"), []byte{})
	v.write(&b, true)
	check := func() {
		for _, key := range []string{"nil", "empty"} {
			got, err := v.e.Get("s", []byte(key))
			if err != nil || len(got) != 0 {
				t.Fatalf("get %q = %q, %v; want empty, nil", key, got, err)
			}
		}
		if keys, vals := v.scan("s", nil); len(keys) != 2 || len(vals[0]) != 0 || len(vals[1]) != 0 {
			t.Fatalf("scan: %q %q", keys, vals)
		}
	}
	check()
	if v.reopen() {
		check()
	}
}

func testLargeValue(t *testing.T, k kind) {
	v := newEnv(t, k)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	var b Batch
	b.Put("s", []byte("big"), big)
	b.Put("s", []byte("small"), []byte("x"))
	v.write(&b, true)
	v.wantValue("s", []byte("big"), big)
	if v.reopen() {
		v.wantValue("s", []byte("big"), big)
	}
	_, vals := v.scan("s", nil)
	if len(vals) != 2 || !bytes.Equal(vals[0], big) {
		t.Fatalf("scan: %d values, first %d bytes", len(vals), len(vals[0]))
	}
}

func testManySmallKeys(t *testing.T, k kind) {
	const n = 100_000
	v := newEnv(t, k)
	var b Batch
	for i, p := range rand.Perm(n) {
		key := seqKey(uint64(p) * 7) // random order, gaps between keys
		b.Put("many", key, key[4:])
		if (i+1)%1000 == 0 {
			v.write(&b, false)
			b.Reset()
		}
	}
	count := 0
	var prev []byte
	err := v.e.Scan("many", nil, func(key, val []byte) bool {
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			t.Fatalf("scan out of order: %x after %x", key, prev)
		}
		if !bytes.Equal(val, key[4:]) {
			t.Fatalf("key %x has value %x", key, val)
		}
		prev = append(prev[:0], key...)
		count++
		return true
	})
	if err != nil || count != n {
		t.Fatalf("scan: %d keys, %v; want %d", count, err, n)
	}
	// Delete every other key, then check count and a few lookups.
	for i := 0; i < n; i += 2 {
		b.Delete("many", seqKey(uint64(i)*7))
		if b.Len() == 1000 {
			v.write(&b, false)
			b.Reset()
		}
	}
	v.write(&b, false)
	if keys, _ := v.scan("many", nil); len(keys) != n/2 {
		t.Fatalf("after deleting half: %d keys, want %d", len(keys), n/2)
	}
	v.wantMissing("many", seqKey(0))
	v.wantValue("many", seqKey(7), seqKey(7)[4:])
	v.wantValue("many", seqKey(uint64(n-1)*7), seqKey(uint64(n-1) * 7)[4:])
}

// testManyLargeValues writes more large values than one badger value log
// file holds (16 MiB), so the log rotates, then reads and deletes them.
func testManyLargeValues(t *testing.T, k kind) {
	const n, size = 320, 64 << 10 // 20 MiB
	v := newEnv(t, k)
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	var b Batch
	for i := range n {
		b.Put("big", seqKey(uint64(i)), value(i))
		if b.Len() == 8 {
			v.write(&b, i%64 == 7)
			b.Reset()
		}
	}
	v.reopen()
	for _, i := range []int{0, 1, 255, 256, n - 1} {
		v.wantValue("big", seqKey(uint64(i)), value(i))
	}
	for i := range n {
		b.Delete("big", seqKey(uint64(i)))
	}
	v.write(&b, true)
	if keys, _ := v.scan("big", nil); len(keys) != 0 {
		t.Fatalf("%d keys left after deleting all", len(keys))
	}
}

// testBatchAtomicity checks all-or-none for a batch that fails: one with an
// invalid op at the end, and one too large for the engine's transaction
// (badger) or accepted whole (bolt, memory). The crash half of atomicity is
// TestCrash.
func testBatchAtomicity(t *testing.T, k kind) {
	v := newEnv(t, k)
	var b Batch
	b.Put("s", []byte("a"), []byte("1"))
	b.Put("s", []byte("b"), []byte("2"))
	b.Put("s", nil, []byte("bad")) // empty key
	if err := v.e.Write(&b, true); err == nil {
		t.Fatal("batch with an empty key was accepted")
	}
	v.wantMissing("s", []byte("a"))

	const n = 20_000 // more than badger's 6553 entries per transaction
	b.Reset()
	for i := range n {
		b.Put("big", seqKey(uint64(i)), make([]byte, 64))
	}
	err := v.e.Write(&b, false)
	keys, _ := v.scan("big", nil)
	switch {
	case err == nil && len(keys) == n:
	case errors.Is(err, ErrTooLarge) && len(keys) == 0:
		t.Logf("%s refuses %d ops in one batch: %v", k.name, n, err)
	default:
		t.Fatalf("write of %d ops: err %v and %d keys present; want all or none", n, err, len(keys))
	}
	if k.name == EngineBadger && err == nil {
		t.Fatalf("badger accepted %d ops in one transaction; the Store's group limits assume it cannot", n)
	}
}

// testBatchOrder checks that ops in one batch apply in order.
func testBatchOrder(t *testing.T, k kind) {
	v := newEnv(t, k)
	var b Batch
	b.Put("s", []byte("k"), []byte("1"))
	b.Put("s", []byte("k"), []byte("2"))
	b.Put("s", []byte("d"), []byte("x"))
	b.Delete("s", []byte("d"))
	b.Delete("s", []byte("p"))
	b.Put("s", []byte("p"), []byte("y"))
	v.write(&b, true)
	v.wantValue("s", []byte("k"), []byte("2"))
	v.wantMissing("s", []byte("d"))
	v.wantValue("s", []byte("p"), []byte("y"))
}

func testInvalidOps(t *testing.T, k kind) {
	v := newEnv(t, k)
	for _, c := range []struct {
		name   string
		bucket string
		key    []byte
		want   string
	}{
		{"empty bucket", "", []byte("k"), "empty bucket name"},
		{"zero in bucket", "a\x00b", []byte("k"), "contains a 0x00 byte"},
		{"long bucket", string(make([]byte, MaxBucketLen+1)), []byte("k"), "max 255"},
		{"empty key", "s", nil, `empty key in bucket "s"`},
		{"long key", "s", make([]byte, MaxKeyLen+1), "max 32768"},
	} {
		var b Batch
		b.Put(c.bucket, c.key, []byte("v"))
		err := v.e.Write(&b, false)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: err %v, want it to say %q", c.name, err, c.want)
		}
	}
	var b Batch
	b.Put("s", make([]byte, MaxKeyLen), []byte("v")) // the limit itself is fine
	v.write(&b, false)
}

func testReopen(t *testing.T, k kind) {
	if !k.persistent {
		t.Skip("memory does not persist")
	}
	v := newEnv(t, k)
	var b Batch
	for i := range 100 {
		b.Put("a", seqKey(uint64(i)), []byte(fmt.Sprint("a", i)))
		b.Put("b", seqKey(uint64(i)), []byte(fmt.Sprint("b", i)))
	}
	v.write(&b, true)
	b.Reset()
	for i := 0; i < 100; i += 3 {
		b.Delete("a", seqKey(uint64(i)))
	}
	v.write(&b, false) // not synced, but Close must flush it
	v.reopen()
	for i := range 100 {
		if i%3 == 0 {
			v.wantMissing("a", seqKey(uint64(i)))
		} else {
			v.wantValue("a", seqKey(uint64(i)), []byte(fmt.Sprint("a", i)))
		}
		v.wantValue("b", seqKey(uint64(i)), []byte(fmt.Sprint("b", i)))
	}
	v.reopen() // twice: a reopened store must close cleanly too
	if keys, _ := v.scan("a", nil); len(keys) != 66 {
		t.Fatalf("bucket a after two reopens: %d keys, want 66", len(keys))
	}
}

// testFIFOQueue appends 10k entries, consumes from the front, reopens and
// continues; order and count must be exact.
func testFIFOQueue(t *testing.T, k kind) {
	v := newEnv(t, k)
	const bucket = "queue"
	next := uint64(1)  // next sequence to append
	front := uint64(1) // next sequence expected at the front
	appendN := func(n int) {
		var b Batch
		for range n {
			b.Put(bucket, seqKey(next), fmt.Appendf(nil, "msg-%d", next))
			next++
			if b.Len() == 100 {
				v.write(&b, false)
				b.Reset()
			}
		}
		v.write(&b, false)
	}
	// consume takes n entries from the front, scanning from the last
	// consumed key as a real consumer would.
	consume := func(n int) {
		t.Helper()
		for n > 0 {
			var b Batch
			err := v.e.Scan(bucket, seqKey(front), func(key, val []byte) bool {
				seq := binary.BigEndian.Uint64(key)
				if seq != front || string(val) != fmt.Sprintf("msg-%d", seq) {
					t.Fatalf("front of queue is %d=%q, want %d", seq, val, front)
				}
				b.Delete(bucket, bytes.Clone(key))
				front++
				n--
				return n > 0 && b.Len() < 100
			})
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() == 0 {
				t.Fatalf("queue empty at %d, wanted %d more", front, n)
			}
			v.write(&b, true)
		}
	}
	appendN(10_000)
	consume(4_000)
	v.reopen()
	consume(3_000)
	appendN(2_000)
	v.reopen()
	consume(5_000)
	keys, _ := v.scan(bucket, nil)
	if len(keys) != 0 || front != next {
		t.Fatalf("queue should be empty: %d keys left, front %d, next %d", len(keys), front, next)
	}
	appendN(10)
	if keys, _ := v.scan(bucket, nil); len(keys) != 10 || binary.BigEndian.Uint64(keys[0]) != front {
		t.Fatalf("after refilling: %d keys, first %x, want 10 from %d", len(keys), keys[0], front)
	}
}
