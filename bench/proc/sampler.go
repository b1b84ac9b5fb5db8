package proc

import (
	"sync"
	"time"
)

// Sampler samples a process's memory at a fixed interval and keeps the peak.
type Sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	peakRSS  int64
	peakAnon int64
	samples  int
	err      error
}

// StartSampler samples pid every interval until Stop.
func StartSampler(pid int, interval time.Duration) *Sampler {
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go s.loop(interval)
	return s
}

func (s *Sampler) loop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.sample()
		case <-s.stop:
			return
		}
	}
}

func (s *Sampler) sample() {
	u, err := ReadUsage(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.peakRSS = max(s.peakRSS, u.RSS)
	s.peakAnon = max(s.peakAnon, u.Anon)
	s.samples++
}

// Stop takes a last sample and returns the peaks (bytes), how many samples
// they come from, and the first error.
func (s *Sampler) Stop() (peakRSS, peakAnon int64, samples int, err error) {
	close(s.stop)
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakAnon, s.samples, s.err
}
