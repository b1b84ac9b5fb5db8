package board

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The trigger list of the Raspberry Pi 4 ACT LED (led0), mmc0 active.
const rpiTriggers = "none rc-feedback kbd-scrolllock kbd-numlock kbd-capslock kbd-kanalock " +
	"kbd-shiftlock kbd-altgrlock kbd-ctrllock kbd-altlock kbd-shiftllock kbd-shiftrlock " +
	"kbd-ctrlllock kbd-ctrlrlock timer oneshot heartbeat backlight gpio cpu cpu0 cpu1 cpu2 " +
	"cpu3 default-on input panic actpwr mmc1 [mmc0] rfkill-any rfkill-none\n"

// fakeLED writes an LED class directory and returns its path.
func fakeLED(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "led0")
	writeTree(t, dir, files)
	return dir
}

// attrs reads every file of the fake LED.
func attrs(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func wantAttrs(t *testing.T, dir, step string, want map[string]string) {
	t.Helper()
	got := attrs(t, dir)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", step, k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: files %q, want %q", step, got, want)
	}
}

func TestLEDTimerTrigger(t *testing.T) {
	dir := fakeLED(t, map[string]string{
		"brightness":     "0\n",
		"max_brightness": "255\n",
		"trigger":        rpiTriggers,
		// In sysfs these appear when the timer trigger is set; the fake
		// has them all along, with values no step writes.
		"delay_on":  "x\n",
		"delay_off": "x\n",
	})
	l, err := OpenLED(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	untouched := map[string]string{"brightness": "0\n", "max_brightness": "255\n", "trigger": rpiTriggers, "delay_on": "x\n", "delay_off": "x\n"}
	wantAttrs(t, dir, "open", untouched)

	if err := l.Set(On); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "On", map[string]string{"brightness": "255", "max_brightness": "255\n", "trigger": "none", "delay_on": "x\n", "delay_off": "x\n"})

	l.SetBlinkRate(250*time.Millisecond, 750*time.Millisecond)
	if err := l.Set(Blink); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Blink", map[string]string{"brightness": "255", "max_brightness": "255\n", "trigger": "timer", "delay_on": "250", "delay_off": "750"})

	// The same state again writes nothing (the kernel would restart the blink).
	writeTree(t, dir, map[string]string{"trigger": "sentinel"})
	if err := l.Set(Blink); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Blink again", map[string]string{"brightness": "255", "max_brightness": "255\n", "trigger": "sentinel", "delay_on": "250", "delay_off": "750"})

	if err := l.Set(Off); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Off", map[string]string{"brightness": "0", "max_brightness": "255\n", "trigger": "none", "delay_on": "250", "delay_off": "750"})

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Close", map[string]string{"brightness": "0", "max_brightness": "255\n", "trigger": "mmc0", "delay_on": "250", "delay_off": "750"})
	if err := l.Set(On); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestLEDCloseRestoresAfterFailedSet(t *testing.T) {
	dir := fakeLED(t, map[string]string{"brightness": "0\n", "max_brightness": "1\n", "trigger": "none [heartbeat]\n"})
	l, err := OpenLED(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The LED vanishes between open and Set (a module unloaded): Set
	// fails after detaching the trigger, and Close still restores it.
	if err := os.Remove(filepath.Join(dir, "brightness")); err != nil {
		t.Fatal(err)
	}
	if err := l.Set(On); err == nil || !strings.Contains(err.Error(), "brightness") {
		t.Errorf("Set(On) = %v, want an error naming brightness", err)
	}
	wantAttrs(t, dir, "failed On", map[string]string{"max_brightness": "1\n", "trigger": "none"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Close", map[string]string{"max_brightness": "1\n", "trigger": "heartbeat"})
}

func TestLEDRestoresTimerDelays(t *testing.T) {
	dir := fakeLED(t, map[string]string{
		"brightness": "1\n", "max_brightness": "1\n", "trigger": "none [timer] heartbeat\n",
		"delay_on": "100\n", "delay_off": "900\n",
	})
	l, err := OpenLED(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Set(Blink); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Blink", map[string]string{"brightness": "1\n", "max_brightness": "1\n", "trigger": "timer", "delay_on": "500", "delay_off": "500"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Close", map[string]string{"brightness": "1\n", "max_brightness": "1\n", "trigger": "timer", "delay_on": "100", "delay_off": "900"})
}

// waitBrightness polls until brightness has shown every value in want.
func waitBrightness(t *testing.T, dir string, want ...string) {
	t.Helper()
	seen := make(map[string]bool)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "brightness"))
		if err != nil {
			t.Fatal(err)
		}
		seen[string(b)] = true
		all := true
		for _, w := range want {
			all = all && seen[w]
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("brightness showed %v within 5s, want all of %q", seen, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLEDSoftwareBlink(t *testing.T) {
	// A GPIO LED on a router without ledtrig-timer.
	dir := fakeLED(t, map[string]string{
		"brightness": "0\n", "max_brightness": "1\n", "trigger": "[none] default-on heartbeat\n",
	})
	var logs bytes.Buffer
	l, err := OpenLED(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "no timer trigger") {
		t.Errorf("log lacks the fallback:\n%s", logs.String())
	}
	l.SetBlinkRate(2*time.Millisecond, 2*time.Millisecond)
	if err := l.Set(Blink); err != nil {
		t.Fatal(err)
	}
	waitBrightness(t, dir, "0", "1")
	if got := attrs(t, dir)["trigger"]; got != "none" {
		t.Errorf("trigger = %q, want none", got)
	}

	// After Set returns the blink goroutine is gone: brightness stays.
	if err := l.Set(On); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // ten blink periods
	wantAttrs(t, dir, "On after blink", map[string]string{"brightness": "1", "max_brightness": "1\n", "trigger": "none"})

	if err := l.Set(Blink); err != nil {
		t.Fatal(err)
	}
	waitBrightness(t, dir, "0", "1")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	wantAttrs(t, dir, "Close", map[string]string{"brightness": "0", "max_brightness": "1\n", "trigger": "none"})
}

func TestLEDTimerFailureFallsBackToSoftware(t *testing.T) {
	// "timer" is listed but delay_on cannot be written (absent here).
	dir := fakeLED(t, map[string]string{
		"brightness": "0\n", "max_brightness": "255\n", "trigger": "[none] timer\n",
	})
	var logs bytes.Buffer
	l, err := OpenLED(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l.SetBlinkRate(2*time.Millisecond, 2*time.Millisecond)
	if err := l.Set(Blink); err != nil {
		t.Fatal(err)
	}
	waitBrightness(t, dir, "0", "255")
	if !strings.Contains(logs.String(), "timer trigger failed") {
		t.Errorf("fallback not logged:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "delay_on")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("delay_on was created: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Close", map[string]string{"brightness": "0", "max_brightness": "255\n", "trigger": "none"})
}

func TestLEDMinimal(t *testing.T) {
	// Only brightness: max defaults to 1, no trigger is ever written.
	dir := fakeLED(t, map[string]string{"brightness": "0\n"})
	var logs bytes.Buffer
	l, err := OpenLED(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no max_brightness", "no trigger file"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if err := l.Set(On); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "On", map[string]string{"brightness": "1"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, dir, "Close", map[string]string{"brightness": "0"})
}

func TestOpenLEDMissing(t *testing.T) {
	_, err := OpenLED(filepath.Join(t.TempDir(), "nope"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
	var l *LED
	l.SetBlinkRate(time.Second, time.Second)
	if l.Set(On) != nil || l.Close() != nil {
		t.Error("nil *LED methods must do nothing")
	}
}

func TestLEDUnknownState(t *testing.T) {
	dir := fakeLED(t, map[string]string{"brightness": "0\n"})
	l, err := OpenLED(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Set(State(7)); err == nil || !strings.Contains(err.Error(), "unknown state 7") {
		t.Errorf("Set(7) = %v", err)
	}
	if State(7).String() != "State(7)" || Blink.String() != "blink" {
		t.Error("State.String")
	}
}
