//go:build unix && (amd64 || arm64) && !nobadger

package storage

import (
	"io/fs"
	"syscall"
)

// diskBytes returns the bytes fi's file occupies on disk: its allocated
// blocks, so that badger's preallocated, sparse memtable and value log files
// count for what they really use.
func diskBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
