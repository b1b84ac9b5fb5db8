package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/edgemq/edgemq/auth"
)

// testCost keeps the tests fast; the cost is stored in each hash.
const testCost = bcrypt.MinCost

func TestSetPassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if replaced, err := auth.SetPassword(path, "alice", []byte("a-secret"), testCost); err != nil || replaced {
		t.Fatalf("SetPassword new file: replaced %v, %v", replaced, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("new password file mode %v, want 0600", fi.Mode().Perm())
	}
	// Comments and other users survive; a user is replaced in place.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte("# edgemq users\n"+string(data)+"bob:$2a$04$abcdefghijklmnopqrstuu5Q8JlTzWTwBWWWp3WDUBx0ba/nZOoV2\n"), 0o600)
	os.Chmod(path, 0o640)
	if _, err := auth.SetPassword(path, "carol", []byte("c-secret"), testCost); err != nil {
		t.Fatal(err)
	}
	if replaced, err := auth.SetPassword(path, "alice", []byte("new-secret"), testCost); err != nil || !replaced {
		t.Fatalf("SetPassword existing user: replaced %v, %v", replaced, err)
	}
	data, _ = os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 || lines[0] != "# edgemq users" || !strings.HasPrefix(lines[1], "alice:$2a$04$") ||
		!strings.HasPrefix(lines[2], "bob:$2a$04$abcdefghijklmnopqrstuu") || !strings.HasPrefix(lines[3], "carol:$2a$04$") {
		t.Fatalf("password file:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode of an existing file changed to %v", fi.Mode().Perm())
	}
	hash := strings.TrimPrefix(lines[1], "alice:")
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("new-secret")) != nil {
		t.Fatal("alice's hash does not verify the new password")
	}
	p, err := auth.LoadPasswords(path)
	if err != nil || p.Len() != 3 {
		t.Fatalf("LoadPasswords: %v users, %v", p, err)
	}
	// No temporary files left behind.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("%d files in the directory, want 1", len(ents))
	}
}

func TestSetPasswordRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	for _, tt := range []struct{ user, password, msg string }{
		{"", "x", "empty user name"},
		{"a:b", "x", "contains ':'"},
		{"#a", "x", "starts with '#'"},
		{" a", "x", "starts or ends with a space"},
		{"a", "", "empty password"},
		{"a", strings.Repeat("p", 73), "longer than 72 bytes"},
	} {
		if _, err := auth.SetPassword(path, tt.user, []byte(tt.password), testCost); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("SetPassword(%q, %q): %v, want %q", tt.user, tt.password, err, tt.msg)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused SetPassword created the file")
	}
}

func TestLoadPasswordsErrors(t *testing.T) {
	good := "$2a$04$abcdefghijklmnopqrstuu5Q8JlTzWTwBWWWp3WDUBx0ba/nZOoV2"
	for _, tt := range []struct{ data, want string }{
		{"alice:" + good + "\nbob\n", ":2: not a user:hash line"},
		{":" + good + "\n", ":1: empty user name"},
		{"alice:" + good + "\n# c\nalice:" + good + "\n", ":3: user \"alice\" again (first on line 1)"},
		{"alice:$6$salt$hash\n", ":1: user \"alice\": hash \"$6$s...\" is not bcrypt"},
		{"alice:$2a$99$abc\n", ":1: user \"alice\": bad bcrypt hash"},
	} {
		path := writeTemp(t, "passwd", tt.data)
		_, err := auth.LoadPasswords(path)
		var fe *auth.FileError
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), path+tt.want) {
			t.Errorf("LoadPasswords(%q): %v, want %s%s", tt.data, err, path, tt.want)
		}
	}
}
