//go:build !linux

package storage

// freeBytes cannot tell free space here (edgemq's gateways run Linux):
// only max_disk_bytes applies.
func freeBytes(dir string) (int64, error) { return 0, errNoStatfs }
