package bridge

import (
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// sender calls paho's Publish for the serve loop of one connection.
//
// paho's Publish checks that the client is connected, then waits, up to
// its write timeout (30 s or more here), to hand the packet to paho's
// output goroutine. When the connection breaks in between, that goroutine
// has stopped and the Publish waits out the whole timeout. While the
// bridge drains a backlog its serve loop is inside Publish nearly all the
// time, so on a flaky uplink nearly every broken connection cost that
// timeout instead of the backoff (found by the fault suite's cutting
// proxy). So serve hands each batch to the sender and waits for the result
// or the loss of the connection, whichever comes first. A sender left
// inside such a Publish ends with it: its view of the session is dead by
// then (so its Put is ignored) and it touches nothing else. A stopping
// link waits for it, for a while (waitSenders).
type sender struct {
	c    mqtt.Client
	v    *view
	jobs chan []sendJob
	res  chan sendResult
}

// sendJob is one PUBLISH: a flight, or a QoS 0 message of the ring (f nil).
type sendJob struct {
	f       *flight
	topic   string
	qos     byte
	retain  bool
	payload []byte
}

// sendResult says how many jobs of a batch paho took, and why it stopped
// before the end.
type sendResult struct {
	n   int
	err error
}

func (l *link) startSender(c mqtt.Client, v *view) *sender {
	s := &sender{c: c, v: v, jobs: make(chan []sendJob), res: make(chan sendResult, 1)}
	l.senders.Add(1)
	go func() {
		defer l.senders.Done()
		for jobs := range s.jobs {
			s.res <- s.publish(jobs)
		}
	}()
	return s
}

// stop ends the sender once its batch, if any, is done.
func (s *sender) stop() { close(s.jobs) }

func (s *sender) publish(jobs []sendJob) sendResult {
	for i, j := range jobs {
		if j.f != nil {
			s.v.stage(j.f)
		}
		if err := doneErr(s.c.Publish(j.topic, j.qos, j.retain, j.payload)); err != nil {
			return sendResult{i, fmt.Errorf("publish %q: %w", j.topic, err)}
		}
	}
	return sendResult{len(jobs), nil}
}

// send has the sender publish jobs and waits for it, the loss of the
// connection or the link's stop. It counts what paho took.
func (l *link) send(s *sender, jobs []sendJob, lost <-chan error) error {
	if len(jobs) == 0 {
		return nil
	}
	var r sendResult
	select {
	case s.jobs <- jobs:
	case err := <-lost:
		return fmt.Errorf("connection lost: %w", err)
	case <-l.ctx.Done():
		return errStopped
	}
	select {
	case r = <-s.res:
	case err := <-lost:
		return fmt.Errorf("connection lost: %w", err)
	case <-l.ctx.Done():
		return errStopped
	}
	for _, j := range jobs[:r.n] {
		switch {
		case j.f == nil:
			l.counters.sent.Add(1)
		case j.f.sends > 0:
			l.counters.resent.Add(1)
		default:
			l.counters.sent.Add(1)
		}
		if j.f != nil {
			j.f.sends++
			if j.qos == 0 {
				l.sess.ackNow(j.f) // only a QoS 0 rule's entry queued before a reload
			}
		}
	}
	return r.err
}
