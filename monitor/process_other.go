//go:build !linux

package monitor

// writeProcess writes nothing where there is no /proc: edgemq's targets are
// Linux; this keeps the package building elsewhere for development.
func writeProcess(*Writer) {}

func residentBytes() (int64, bool) { return 0, false }
