package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes. In YAML it is an integer or a string of an
// integer followed by a unit (see ParseByteSize).
type ByteSize int64

// byteUnits are the accepted units, case-sensitive. SI units are powers of
// 1000 and IEC units powers of 1024, so that "100MB" and "100MiB" mean what
// they say.
var byteUnits = []struct {
	name string
	mul  int64
}{
	{"B", 1},
	{"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"TB", 1000 * 1000 * 1000 * 1000},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
}

// ParseByteSize parses "4096", "4096B", "256MiB", "100 MB". The number is a
// non-negative integer; the optional unit is one of B, kB (or KB), MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024). Units are
// case-sensitive: "mb" and "M" are errors rather than guesses.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("invalid byte size %q: must not be negative", s)
		}
		return 0, fmt.Errorf("invalid byte size %q: want an integer with an optional unit, e.g. 4MiB", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q: too large", s)
	}
	unit := strings.TrimSpace(t[i:])
	if strings.HasPrefix(unit, ".") {
		return 0, fmt.Errorf("invalid byte size %q: fractions are not accepted, use a smaller unit", s)
	}
	if unit == "" {
		return ByteSize(n), nil
	}
	for _, u := range byteUnits {
		if u.name == unit {
			if n > math.MaxInt64/u.mul {
				return 0, fmt.Errorf("invalid byte size %q: too large", s)
			}
			return ByteSize(n * u.mul), nil
		}
	}
	return 0, fmt.Errorf("invalid byte size %q: unknown unit %q (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
}

// String formats the size with the largest IEC unit that divides it exactly,
// e.g. "256MiB", "1000B".
func (b ByteSize) String() string {
	for i := len(byteUnits) - 1; i >= 0; i-- {
		u := byteUnits[i]
		if !strings.Contains(u.name, "i") || b == 0 {
			continue
		}
		if int64(b)%u.mul == 0 {
			return strconv.FormatInt(int64(b)/u.mul, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
