package board

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// State is what the status LED shows.
type State int

const (
	// Off: edgemq is not serving (starting, stopping).
	Off State = iota
	// On: serving, every bridge up.
	On
	// Blink: serving, but a bridge is down.
	Blink
)

func (s State) String() string {
	switch s {
	case Off:
		return "off"
	case On:
		return "on"
	case Blink:
		return "blink"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// defaultBlink is the on and off time of Blink: a slow 1 Hz blink reads as
// "degraded", not as the disk-activity flicker many boards show.
const defaultBlink = 500 * time.Millisecond

// LED drives a Linux LED class device (/sys/class/leds/NAME). Blink uses
// the kernel "timer" trigger when the LED lists it in its trigger file,
// so it keeps blinking without waking the CPU; otherwise a goroutine owned
// by the LED toggles brightness. Close restores the trigger (and, when
// there was none, the brightness) found at open. The methods are safe for
// concurrent use; those of a nil *LED do nothing.
type LED struct {
	dir string
	log *slog.Logger

	mu         sync.Mutex
	closed     bool
	state      State
	set        bool // state has been applied and is known
	touched    bool // Set has written something: Close must restore
	max        int  // max_brightness
	hasTrigger bool // the trigger file exists
	hasTimer   bool // "timer" is among the triggers
	blinkOn    time.Duration
	blinkOff   time.Duration
	soft       *softBlink // running software blink, or nil

	// What Close puts back.
	origTrigger    string // "" when there is no trigger file
	origBrightness string
	origDelayOn    string // only when origTrigger is "timer"
	origDelayOff   string
}

// OpenLED opens the LED in dir (for example /sys/class/leds/led0). It
// fails only when dir is not an LED (no readable brightness file), with
// an error wrapping fs.ErrNotExist when dir is missing; the caller logs it
// and runs without an LED. Missing optional files (max_brightness,
// trigger) are logged and worked around. OpenLED changes nothing until
// the first Set.
func OpenLED(dir string, log *slog.Logger) (*LED, error) {
	log = orDiscard(log)
	b, err := os.ReadFile(filepath.Join(dir, "brightness"))
	if err != nil {
		return nil, fmt.Errorf("board: led %s: %w", dir, err)
	}
	l := &LED{
		dir:            dir,
		log:            log,
		max:            1,
		blinkOn:        defaultBlink,
		blinkOff:       defaultBlink,
		origBrightness: strings.TrimSpace(string(b)),
	}
	if b, err := os.ReadFile(filepath.Join(dir, "max_brightness")); err != nil {
		log.Warn("board: led has no max_brightness; using 1", "dir", dir, "err", err)
	} else if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || n < 1 {
		log.Warn("board: led max_brightness unreadable; using 1", "dir", dir, "value", strings.TrimSpace(string(b)))
	} else {
		l.max = n
	}
	b, err = os.ReadFile(filepath.Join(dir, "trigger"))
	if err != nil {
		log.Warn("board: led has no trigger file; blinking in software", "dir", dir, "err", err)
		return l, nil
	}
	l.hasTrigger = true
	var list []string
	l.origTrigger, list = parseTriggers(string(b))
	for _, t := range list {
		if t == "timer" {
			l.hasTimer = true
		}
	}
	if !l.hasTimer {
		log.Info("board: led has no timer trigger; blinking in software", "dir", dir)
	}
	if l.origTrigger == "timer" {
		l.origDelayOn = l.readAttr("delay_on")
		l.origDelayOff = l.readAttr("delay_off")
	}
	return l, nil
}

// parseTriggers reads a sysfs trigger file: "none timer [mmc0] heartbeat"
// lists the available triggers with the active one in brackets.
func parseTriggers(s string) (active string, all []string) {
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			f = f[1 : len(f)-1]
			active = f
		}
		all = append(all, f)
	}
	return active, all
}

// SetBlinkRate sets the on and off times of Blink (default 500 ms each);
// it takes effect at the next Set(Blink). Non-positive values keep the
// current ones.
func (l *LED) SetBlinkRate(on, off time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if on > 0 {
		l.blinkOn = on
	}
	if off > 0 {
		l.blinkOff = off
	}
}

// Set shows s. Setting the state it already shows does nothing (a blink
// is not restarted).
func (l *LED) Set(s State) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.set && s == l.state {
		return nil
	}
	l.touched = true
	l.stopSoft()
	var err error
	switch s {
	case Off:
		err = l.steady(0)
	case On:
		err = l.steady(l.max)
	case Blink:
		err = l.blink()
	default:
		return fmt.Errorf("board: led %s: unknown state %d", l.dir, int(s))
	}
	if err != nil {
		l.set = false // unknown state: apply fully next time
		return err
	}
	l.state, l.set = s, true
	return nil
}

// steady detaches any trigger and sets the brightness.
func (l *LED) steady(brightness int) error {
	if l.hasTrigger {
		if err := l.writeAttr("trigger", "none"); err != nil {
			return err
		}
	}
	return l.writeAttr("brightness", strconv.Itoa(brightness))
}

func (l *LED) blink() error {
	if l.hasTimer {
		err := l.writeAttr("trigger", "timer")
		if err == nil {
			err = l.writeAttr("delay_on", strconv.FormatInt(l.blinkOn.Milliseconds(), 10))
		}
		if err == nil {
			err = l.writeAttr("delay_off", strconv.FormatInt(l.blinkOff.Milliseconds(), 10))
		}
		if err == nil {
			return nil
		}
		l.log.Warn("board: led timer trigger failed; blinking in software", "dir", l.dir, "err", err)
		l.hasTimer = false
	}
	if err := l.steady(l.max); err != nil {
		return err
	}
	l.soft = startSoftBlink(l.dir, l.max, l.blinkOn, l.blinkOff, l.log)
	return nil
}

// stopSoft stops the software blink, if any, and waits for it. l.mu is held.
func (l *LED) stopSoft() {
	if l.soft != nil {
		l.soft.stop()
		l.soft = nil
	}
}

// Close stops blinking and restores the trigger found at open: its delays
// when it was the timer, the brightness when there was no trigger.
// Close is idempotent.
func (l *LED) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.stopSoft()
	if !l.touched {
		return nil
	}
	var errs []error
	switch l.origTrigger {
	case "", "none":
		if l.hasTrigger {
			errs = append(errs, l.writeAttr("trigger", "none"))
		}
		errs = append(errs, l.writeAttr("brightness", l.origBrightness))
	default:
		errs = append(errs, l.writeAttr("trigger", l.origTrigger))
		if l.origTrigger == "timer" && l.origDelayOn != "" && l.origDelayOff != "" {
			errs = append(errs, l.writeAttr("delay_on", l.origDelayOn), l.writeAttr("delay_off", l.origDelayOff))
		}
	}
	return errors.Join(errs...)
}

func (l *LED) readAttr(name string) string {
	b, err := os.ReadFile(filepath.Join(l.dir, name))
	if err != nil {
		l.log.Warn("board: led attribute unreadable", "dir", l.dir, "attr", name, "err", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (l *LED) writeAttr(name, value string) error {
	return writeSysfs(filepath.Join(l.dir, name), value)
}

// writeSysfs writes value to an existing sysfs attribute in one write, as
// `echo -n value > path` does; it never creates the file.
func writeSysfs(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("board: %w", err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("board: write %q to %s: %w", value, path, err)
	}
	return nil
}

// softBlink toggles an LED's brightness from a goroutine its LED owns.
type softBlink struct {
	quit chan struct{}
	done chan struct{}
}

// startSoftBlink starts toggling dir/brightness between max (now on) and
// 0. A write error is logged once and ends the blink.
func startSoftBlink(dir string, max int, on, off time.Duration, log *slog.Logger) *softBlink {
	b := &softBlink{quit: make(chan struct{}), done: make(chan struct{})}
	path := filepath.Join(dir, "brightness")
	go func() {
		defer close(b.done)
		lit := true
		t := time.NewTimer(on)
		defer t.Stop()
		for {
			select {
			case <-b.quit:
				return
			case <-t.C:
			}
			lit = !lit
			value, next := "0", off
			if lit {
				value, next = strconv.Itoa(max), on
			}
			if err := writeSysfs(path, value); err != nil {
				log.Warn("board: led blink stopped", "dir", dir, "err", err)
				return
			}
			t.Reset(next)
		}
	}()
	return b
}

func (b *softBlink) stop() {
	close(b.quit)
	<-b.done
}
