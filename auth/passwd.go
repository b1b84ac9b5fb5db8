// Package auth holds edgemq's authentication and authorisation: the
// password file (bcrypt hashes, written by "edgemq passwd"), an
// Authenticator for the broker's CONNECT (anonymous access, passwords,
// usernames from client certificates, a per-address limit on failed
// logins) and a mosquitto-style ACL file (an Authorizer). Both files can be
// reloaded while the broker runs: the new contents are swapped in
// atomically, and a file that does not parse leaves the old in force.
package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost of hashes written by "edgemq passwd".
//
// bcrypt rather than argon2id: it needs 4 KiB of memory where argon2id
// needs megabytes per login (a flood of logins on a 64 MB router would be
// a memory attack), and its 32-bit arithmetic suits 32-bit MIPS and ARM,
// where argon2's 64-bit operations are emulated.
//
// Cost 8 (256 rounds of the key schedule) takes about 15 ms on an x86
// core and, extrapolated from that by clock and instructions per cycle,
// about 0.3 s on a 500 MHz MIPS 24Kc router; cost 10 would take over a
// second there, and a reconnect storm of N clients costs N logins. Boards
// with faster cores can afford "edgemq passwd -cost 10" or more: the cost
// is stored in each hash.
const DefaultCost = 8

// MaxPasswordLen is the longest password bcrypt uses entirely.
const MaxPasswordLen = 72

// FileError is a problem at a line of a password or ACL file.
type FileError struct {
	Path string
	Line int // 0: the file as a whole
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Passwords is a parsed password file: one "user:hash" line per user,
// where hash is a bcrypt hash ($2a$, $2b$ or $2y$). Lines starting with #
// and blank lines are ignored.
type Passwords struct {
	users map[string][]byte
}

// LoadPasswords reads and parses a password file. The error names the
// first bad line.
func LoadPasswords(path string) (*Passwords, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePasswords(path, data)
}

func parsePasswords(path string, data []byte) (*Passwords, error) {
	p := &Passwords{users: make(map[string][]byte)}
	firstLine := make(map[string]int)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, &FileError{path, n, "not a user:hash line"}
		case user == "":
			return nil, &FileError{path, n, "empty user name"}
		case firstLine[user] != 0:
			return nil, &FileError{path, n, fmt.Sprintf("user %q again (first on line %d)", user, firstLine[user])}
		}
		if err := checkHash(hash); err != nil {
			return nil, &FileError{path, n, fmt.Sprintf("user %q: %v", user, err)}
		}
		firstLine[user] = n
		p.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{path, 0, err.Error()}
	}
	return p, nil
}

// checkHash accepts bcrypt hashes only.
func checkHash(hash string) error {
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
		short := hash
		if len(short) > 4 {
			short = short[:4] + "..."
		}
		return fmt.Errorf("hash %q is not bcrypt ($2a$, $2b$, $2y$); write it with edgemq passwd", short)
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("bad bcrypt hash: %v", err)
	}
	return nil
}

// Len is the number of users.
func (p *Passwords) Len() int { return len(p.users) }

// HashPassword returns the bcrypt hash of password at cost.
func HashPassword(password []byte, cost int) ([]byte, error) {
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword(password, cost)
}

func checkPassword(password []byte) error {
	switch {
	case len(password) == 0:
		return errors.New("empty password")
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("password longer than %d bytes (bcrypt ignores the rest)", MaxPasswordLen)
	}
	return nil
}

// CheckUser reports why user cannot be a user of a password file.
func CheckUser(user string) error {
	switch {
	case user == "":
		return errors.New("empty user name")
	case strings.ContainsAny(user, ":\n\r\x00"):
		return fmt.Errorf("user name %q contains ':', a newline or NUL", user)
	case strings.HasPrefix(user, "#"):
		return fmt.Errorf("user name %q starts with '#' (a comment)", user)
	case strings.TrimSpace(user) != user:
		return fmt.Errorf("user name %q starts or ends with a space", user)
	case len(user) > 65535:
		return errors.New("user name longer than 65535 bytes")
	}
	return nil
}

// SetPassword adds user with a bcrypt hash of password at cost to the
// password file at path, or replaces the user's line; other lines are kept
// as they are. A new file is created with mode 0600; an existing one keeps
// its mode. The file is replaced atomically (written beside it, synced,
// renamed). It reports whether the user existed.
func SetPassword(path, user string, password []byte, cost int) (replaced bool, err error) {
	if err := CheckUser(user); err != nil {
		return false, err
	}
	hash, err := HashPassword(password, cost)
	if err != nil {
		return false, err
	}
	mode := fs.FileMode(0o600)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, err
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	entry := user + ":" + string(hash)
	var out []string
	if len(old) > 0 {
		for _, line := range strings.Split(strings.TrimSuffix(string(old), "\n"), "\n") {
			u, _, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
			if ok && u == user && !strings.HasPrefix(line, "#") {
				if !replaced {
					out = append(out, entry)
					replaced = true
				}
				continue // drop duplicates of the user
			}
			out = append(out, line)
		}
	}
	if !replaced {
		out = append(out, entry)
	}
	return replaced, writeAtomic(path, []byte(strings.Join(out, "\n")+"\n"), mode)
}

// writeAtomic replaces path with data: a reader sees the old file or the
// new one, never a part, even across a power loss.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
