package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgemq/edgemq/auth"
	"github.com/edgemq/edgemq/broker"
)

const testACL = `# Anonymous clients (no username).
topic read $SYS/#
topic public/#
topic deny public/secret/#

user alice
topic readwrite alice/#
topic read shared/+/status
  topic deny alice/private
topic write report

user bob
topic read #

user carol
topic write users/carol/locked

# Patterns apply to everyone.
pattern write devices/%c/out
pattern read devices/%c/in/#
pattern readwrite users/%u/#
pattern deny users/%u/locked
pattern dev-%c/x
`

func writeTemp(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadACL(t *testing.T, data string) *auth.ACL {
	t.Helper()
	a, err := auth.LoadACL(writeTemp(t, "acl", data))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestACLRules checks each rule form: anonymous rules, user sections,
// read/write/readwrite/deny, deny before allow, $ topics, %c and %u
// patterns, and the refusal of clients whose id could widen a pattern.
func TestACLRules(t *testing.T) {
	a := loadACL(t, testACL)
	if a.Rules() != 14 {
		t.Fatalf("Rules() = %d, want 14", a.Rules())
	}
	anon := &broker.ClientInfo{ClientID: "anon1"}
	alice := &broker.ClientInfo{ClientID: "a1", Username: "alice"}
	bob := &broker.ClientInfo{ClientID: "b1", Username: "bob"}
	carol := &broker.ClientInfo{ClientID: "c1", Username: "carol"}
	mallory := &broker.ClientInfo{ClientID: "m1", Username: "mallory"}
	hashID := &broker.ClientInfo{ClientID: "x#", Username: "mallory"}
	plusUser := &broker.ClientInfo{ClientID: "m2", Username: "a+b"}
	slashID := &broker.ClientInfo{ClientID: "a/b"}

	type op int
	const (
		pub op = iota
		recv
		sub
	)
	tests := []struct {
		who   *broker.ClientInfo
		op    op
		topic string
		want  bool
	}{
		// Anonymous section.
		{anon, pub, "public/a", true},
		{anon, recv, "public/a", true},
		{anon, recv, "public", true}, // "public/#" matches the parent level
		{anon, pub, "public/secret/x", false},
		{anon, recv, "public/secret", false},
		{anon, recv, "$SYS/broker/uptime", true},
		{anon, pub, "$SYS/broker/uptime", false}, // read only
		{anon, recv, "other", false},
		// Patterns for an anonymous client: %c yes, %u never.
		{anon, recv, "devices/anon1/in/cmd", true},
		{anon, pub, "devices/anon1/out", true},
		{anon, recv, "devices/anon1/out", false}, // write only
		{anon, pub, "devices/other/out", false},
		{anon, recv, "users//x", false},
		// A user's section, not the anonymous one.
		{alice, pub, "alice/x", true},
		{alice, recv, "alice/x/y", true},
		{alice, pub, "alice/private", false}, // deny before the earlier readwrite
		{alice, recv, "alice/private", false},
		{alice, recv, "shared/k/status", true},
		{alice, pub, "shared/k/status", false},
		{alice, pub, "report", true},
		{alice, recv, "report", false},
		{alice, recv, "public/a", false},
		{alice, pub, "users/alice/data", true}, // pattern %u
		{alice, pub, "users/alice/locked", false},
		{alice, pub, "users/bob/data", false},
		{alice, pub, "devices/a1/out", true}, // pattern %c
		{alice, recv, "$SYS/x", false},
		{bob, recv, "anything/at/all", true},
		{bob, recv, "$SYS/broker/uptime", false}, // # does not match $ topics
		{bob, pub, "anything", false},
		{bob, pub, "users/bob/x", true},
		// An allow in the user's section beats a deny among the patterns.
		{carol, pub, "users/carol/locked", true},
		{carol, recv, "users/carol/locked", false},
		// A user without a section has the patterns only.
		{mallory, pub, "users/mallory/a", true},
		{mallory, pub, "public/a", false},
		// + or # in the client id or username: patterns refuse.
		{hashID, pub, "devices/x#/out", false},
		{hashID, pub, "users/mallory/a", false},
		{plusUser, pub, "users/a+b/a", false},
		// / in the client id: a %c level never matches.
		{slashID, pub, "devices/a/b/out", false},
		// %c inside a level is a literal.
		{anon, pub, "dev-anon1/x", false},
		{anon, pub, "dev-%c/x", true},

		// SUBSCRIBE: granted when a read rule shares a topic with the
		// filter, refused when a deny covers it.
		{anon, sub, "public/#", true},
		{anon, sub, "#", true},
		{anon, sub, "+", true},
		{anon, sub, "public/+/x", true},
		{anon, sub, "public/secret/#", false},
		{anon, sub, "public/secret/+", false},
		{anon, sub, "public/secret", false},
		{anon, sub, "$SYS/#", true},
		{anon, sub, "$SYS/broker/+", true},
		{anon, sub, "private/#", false},
		{anon, sub, "devices/anon1/in/+", true},
		{anon, sub, "devices/+/out", false}, // write only
		{alice, sub, "shared/#", true},
		{alice, sub, "alice/+", true},
		{alice, sub, "alice/private", false},
		{alice, sub, "report", false},
		{alice, sub, "users/alice/#", true},
		{alice, sub, "users/+/x", true},
		{alice, sub, "users/alice/locked", false},
		{bob, sub, "#", true},
		{bob, sub, "$SYS/#", false},
		{mallory, sub, "public/#", false},
	}
	for _, tt := range tests {
		var got bool
		name := []string{"publish", "receive", "subscribe"}[tt.op]
		switch tt.op {
		case pub:
			got = a.CanPublish(tt.who, []byte(tt.topic))
		case recv:
			got = a.CanReceive(tt.who, []byte(tt.topic))
		case sub:
			got = a.CanSubscribe(tt.who, tt.topic)
		}
		if got != tt.want {
			t.Errorf("client %q user %q: %s %q = %v, want %v", tt.who.ClientID, tt.who.Username, name, tt.topic, got, tt.want)
		}
	}
}

// TestACLNoRules: an empty file allows nothing.
func TestACLNoRules(t *testing.T) {
	a := loadACL(t, "# nothing\n\n")
	c := &broker.ClientInfo{ClientID: "c"}
	if a.CanPublish(c, []byte("a")) || a.CanReceive(c, []byte("a")) || a.CanSubscribe(c, "#") {
		t.Fatal("an empty ACL allowed something")
	}
}

func TestACLParseErrors(t *testing.T) {
	tests := []struct {
		data, want string
	}{
		{"topic read a\ntopic wirte b/c\n", ":2: unknown access \"wirte\": want read, write, readwrite or deny"},
		{"# c\n\ntopic read a/#/b\n", ":3: bad topic filter \"a/#/b\""},
		{"topic\n", ":1: missing topic filter"},
		{"user\n", ":1: user without a name"},
		{"topic a\nallow a\n", ":2: unknown keyword \"allow\": want topic, pattern or user"},
		{"pattern read a/b+\n", ":1: bad topic filter \"a/b+\""},
	}
	for _, tt := range tests {
		path := writeTemp(t, "acl", tt.data)
		_, err := auth.LoadACL(path)
		var fe *auth.FileError
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), path+tt.want) {
			t.Errorf("LoadACL(%q): %v, want %s%s", tt.data, err, path, tt.want)
		}
	}
}

// TestACLReload: Reload swaps the rules; a bad file keeps the old ones.
func TestACLReload(t *testing.T) {
	path := writeTemp(t, "acl", "topic read a/#\n")
	a, err := auth.LoadACL(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &broker.ClientInfo{ClientID: "c"}
	os.WriteFile(path, []byte("topic read b/#\ntopic bad access x\n"), 0o600)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if !a.CanReceive(c, []byte("a/1")) || a.CanReceive(c, []byte("b/1")) {
		t.Fatal("a failed reload changed the rules")
	}
	os.WriteFile(path, []byte("topic read b/#\n"), 0o600)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.CanReceive(c, []byte("a/1")) || !a.CanReceive(c, []byte("b/1")) {
		t.Fatal("Reload did not swap the rules")
	}
	os.Remove(path)
	if err := a.Reload(); err == nil || !a.CanReceive(c, []byte("b/1")) {
		t.Fatalf("Reload of a missing file: %v, and the rules must stay", err)
	}
}

func BenchmarkCanReceive(b *testing.B) {
	path := filepath.Join(b.TempDir(), "acl")
	os.WriteFile(path, []byte(testACL), 0o600)
	a, err := auth.LoadACL(path)
	if err != nil {
		b.Fatal(err)
	}
	c := &broker.ClientInfo{ClientID: "a1", Username: "alice"}
	topic := []byte("devices/a1/in/cmd/set")
	b.ReportAllocs()
	for b.Loop() {
		if !a.CanReceive(c, topic) {
			b.Fatal("denied")
		}
	}
}
