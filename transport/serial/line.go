package serial

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	bugst "go.bug.st/serial"
)

// Parity of a serial line.
type Parity string

// Parities.
const (
	ParityNone Parity = "none"
	ParityEven Parity = "even"
	ParityOdd  Parity = "odd"
)

// LineConfig is how to open one serial line. Zero DataBits, Parity and
// StopBits mean 8, none and 1: the 8N1 that MQTT-SN radios and RS-485
// nodes use.
type LineConfig struct {
	Device   string // e.g. /dev/ttyUSB0
	Baud     int    // e.g. 115200
	DataBits int    // 5-8; 0 means 8
	Parity   Parity // "" means none
	StopBits int    // 1 or 2; 0 means 1
}

// mode validates c and turns it into go.bug.st/serial's Mode. Errors name
// the field.
func (c LineConfig) mode() (*bugst.Mode, error) {
	if c.Device == "" {
		return nil, errors.New("serial: line config: device is empty")
	}
	if c.Baud <= 0 {
		return nil, errors.New("serial: line config " + c.Device + ": baud " + strconv.Itoa(c.Baud) + " must be positive")
	}
	m := &bugst.Mode{BaudRate: c.Baud, DataBits: c.DataBits}
	if m.DataBits == 0 {
		m.DataBits = 8
	}
	if m.DataBits < 5 || m.DataBits > 8 {
		return nil, errors.New("serial: line config " + c.Device + ": data_bits " + strconv.Itoa(c.DataBits) + " must be 5-8")
	}
	switch c.Parity {
	case "", ParityNone:
		m.Parity = bugst.NoParity
	case ParityEven:
		m.Parity = bugst.EvenParity
	case ParityOdd:
		m.Parity = bugst.OddParity
	default:
		return nil, errors.New("serial: line config " + c.Device + ": parity " + strconv.Quote(string(c.Parity)) + " must be none, even or odd")
	}
	switch c.StopBits {
	case 0, 1:
		m.StopBits = bugst.OneStopBit
	case 2:
		m.StopBits = bugst.TwoStopBits
	default:
		return nil, errors.New("serial: line config " + c.Device + ": stop_bits " + strconv.Itoa(c.StopBits) + " must be 1 or 2")
	}
	return m, nil
}

// Open opens the line in raw mode (no echo, no line discipline, no flow
// control) at c's settings. Read blocks until at least one byte arrives;
// Close unblocks a pending Read, which then returns an error.
func Open(c LineConfig) (io.ReadWriteCloser, error) {
	m, err := c.mode()
	if err != nil {
		return nil, err
	}
	p, err := bugst.Open(c.Device, m)
	if err != nil {
		return nil, fmt.Errorf("serial: open %s at %d baud: %w", c.Device, c.Baud, err)
	}
	return p, nil
}
