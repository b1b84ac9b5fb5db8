package storage

import "syscall"

// freeBytes returns the bytes available to unprivileged users on the
// filesystem of dir (statfs f_bavail): edgemq does not count on the
// blocks some filesystems keep for root.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
