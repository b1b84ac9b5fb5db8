package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommit measures Store.Write throughput: writers goroutines each
// write one 100-byte put per batch and wait for it, as publishers waiting
// for their PUBACK do.
func BenchmarkCommit(b *testing.B) {
	for _, k := range kinds() {
		for _, mode := range []SyncMode{SyncAlways, SyncBatch, SyncNone} {
			for _, writers := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("%s/%s/%d", k.name, mode, writers), func(b *testing.B) {
					benchCommit(b, k, mode, writers)
				})
			}
		}
	}
}

func benchCommit(b *testing.B, k kind, mode SyncMode, writers int) {
	o := Options{Engine: k.name, Sync: mode}
	if k.persistent {
		o.Dir = b.TempDir()
	}
	e, err := OpenEngine(o)
	if err != nil {
		b.Fatal(err)
	}
	s := NewStore(e, o)
	defer s.Close()
	val := make([]byte, 100)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			var batch Batch
			key := make([]byte, 8)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				binary.BigEndian.PutUint64(key, uint64(i))
				batch.Reset()
				batch.Put("bench", key, val)
				if err := s.Write(&batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	st := s.Stats()
	if st.Groups > 0 {
		b.ReportMetric(float64(st.Batches)/float64(st.Groups), "batches/group")
	}
}

// Queue RSS measurement: a child process writes rssEntries 200-byte entries
// to a queue bucket through a Store (SyncBatch, batches of 100), then
// consumes them from the front, and reports its peak RSS (VmHWM).
const (
	rssChildEnv = "EDGEMQ_STORAGE_RSS_CHILD" // engine:dir
	rssEntries  = 200_000
)

// BenchmarkQueueRSS runs the child once per engine (and once opening
// nothing, the test binary's own baseline) and reports peak RSS in MB. Run
// it with -bench QueueRSS -benchtime 1x; it is slow for a unit test.
func BenchmarkQueueRSS(b *testing.B) {
	for _, name := range append([]string{"baseline"}, kindNames()...) {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				cmd := helperCommand("-test.run=^TestQueueRSSChild$")
				cmd.Env = append(os.Environ(), rssChildEnv+"="+name+":"+b.TempDir())
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("child: %v\n%s%s", err, out, stderr.Bytes())
				}
				res := map[string]float64{}
				sc := bufio.NewScanner(bytes.NewReader(out))
				for sc.Scan() {
					if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "RSS" {
						res[f[1]], _ = strconv.ParseFloat(f[2], 64)
					}
				}
				if _, ok := res["peak-MB"]; !ok {
					b.Fatalf("child printed no result:\n%s%s", out, stderr.Bytes())
				}
				for unit, v := range res {
					b.ReportMetric(v, unit)
				}
			}
		})
	}
}

func kindNames() []string {
	var n []string
	for _, k := range kinds() {
		n = append(n, k.name)
	}
	return n
}

// TestQueueRSSChild is the child of BenchmarkQueueRSS.
func TestQueueRSSChild(t *testing.T) {
	spec := os.Getenv(rssChildEnv)
	if spec == "" {
		t.Skip("helper process of BenchmarkQueueRSS")
	}
	name, dir, _ := strings.Cut(spec, ":")
	stop := make(chan struct{})
	anon := make(chan float64)
	go sampleAnonRSS(stop, anon)
	start := time.Now()
	var peakDisk int64
	if name != "baseline" {
		o := Options{Engine: name, Sync: SyncBatch}
		if name != EngineMemory {
			o.Dir = dir
		}
		e, err := OpenEngine(o)
		if err != nil {
			t.Fatal(err)
		}
		s := NewStore(e, o)
		val := make([]byte, 200)
		var b Batch
		for i := range uint64(rssEntries) {
			b.Put("queue", seqKey(i), val)
			if b.Len() == 100 {
				if err := s.Write(&b); err != nil {
					t.Fatal(err)
				}
				b.Reset()
			}
		}
		if n, err := e.Size(); err == nil {
			peakDisk = n
		}
		front := uint64(0)
		for front < rssEntries {
			b.Reset()
			err := e.Scan("queue", seqKey(front), func(k, _ []byte) bool {
				b.Delete("queue", bytes.Clone(k))
				front = binary.BigEndian.Uint64(k) + 1
				return b.Len() < 100
			})
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() == 0 {
				t.Fatalf("queue empty at %d", front)
			}
			if err := s.Write(&b); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	fmt.Printf("RSS peak-anon-MB %.1f\n", <-anon)
	fmt.Printf("RSS peak-MB %.1f\n", procStatusMB("VmHWM:"))
	fmt.Printf("RSS seconds %.2f\n", elapsed.Seconds())
	fmt.Printf("RSS disk-MB-full %.1f\n", float64(peakDisk)/(1<<20))
}

// procStatusMB returns a kB field of /proc/self/status in MB, 0 if absent.
func procStatusMB(field string) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// sampleAnonRSS samples RssAnon every 10 ms until stop is closed, then
// sends the largest value seen. VmHWM counts the mmapped files' resident
// pages too, which the kernel can drop; RssAnon is what cannot.
func sampleAnonRSS(stop <-chan struct{}, peak chan<- float64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	max := procStatusMB("RssAnon:")
	for {
		select {
		case <-stop:
			peak <- max
			return
		case <-t.C:
			max = math.Max(max, procStatusMB("RssAnon:"))
		}
	}
}
