// Package board knows the box edgemq runs on: what it is (Detect), how much
// it can afford (Defaults), and the hardware a gateway uses to stay alive and
// show its state: the hardware watchdog (OpenWatchdog, Feeder), a status LED
// (OpenLED) and the RS-485 mode of a UART (SetRS485).
//
// Every hardware path is optional. A missing device or file is a log line on
// the injected *slog.Logger, never a failure of the broker: constructors
// return an error the caller logs and goes on without, and the methods of a
// nil *LED, *Watchdog or *Feeder do nothing, so the caller need not test.
//
// No path is hard-wired: Detect reads under the roots in a Paths value, and
// the LED and the watchdog take their directory and device as parameters, so
// the tests run against fake sysfs and procfs trees in t.TempDir().
//
// The ioctls (watchdog, RS-485) are Linux only; on other systems the
// constructors return errors wrapping errors.ErrUnsupported.
package board
