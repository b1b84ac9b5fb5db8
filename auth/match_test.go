package auth

import (
	"strings"
	"testing"

	"github.com/edgemq/edgemq/broker"
)

// TestFilterRelations: intersects (some topic matches both) and covers
// (every topic of the filter matches the rule), checked against brute
// force over a small universe of topics.
func TestFilterRelations(t *testing.T) {
	c := &broker.ClientInfo{ClientID: "cid", Username: "usr"}
	tests := []struct {
		rule, filter       string
		intersects, covers bool
	}{
		{"a/b", "a/b", true, true},
		{"a/b", "a/c", false, false},
		{"a/#", "a", true, true},
		{"a/#", "a/#", true, true},
		{"a/#", "a/+/c", true, true},
		{"a/#", "#", true, false},
		{"a/+", "a/#", true, false},
		{"a/+", "a/+", true, true},
		{"a/+", "a/b", true, true},
		{"a/+", "a", false, false},
		{"a/b", "a/+", true, false},
		{"a", "a/#", true, false},
		{"+/b", "a/+", true, false},
		{"#", "a/b/c", true, true},
		{"+/+", "#", true, false},
		{"a/%c", "a/cid", true, true},
		{"a/%c", "a/+", true, false},
		{"a/%c", "a/other", false, false},
		{"a/%u/#", "a/usr", true, true},
		{"a/%u/#", "+/+/x", true, false},
	}
	universe := []string{"a", "b", "cid", "usr", "other", "x", "c"}
	var topics []string
	for _, l1 := range universe {
		topics = append(topics, l1)
		for _, l2 := range universe {
			topics = append(topics, l1+"/"+l2)
			for _, l3 := range universe {
				topics = append(topics, l1+"/"+l2+"/"+l3)
			}
		}
	}
	for _, tt := range tests {
		r, err := parseRule(true, tt.rule)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(tt.filter, "/")
		if got := r.intersects(f, c); got != tt.intersects {
			t.Errorf("intersects(%q, %q) = %v, want %v", tt.rule, tt.filter, got, tt.intersects)
		}
		if got := r.covers(f, c); got != tt.covers {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.rule, tt.filter, got, tt.covers)
		}
		// Brute force over topics up to three levels: the table above
		// must agree with what matching topics one by one says.
		fr, _ := parseRule(false, tt.filter)
		some, all := false, true
		for _, topic := range topics {
			if !fr.matchTopic([]byte(topic), c) {
				continue
			}
			if r.matchTopic([]byte(topic), c) {
				some = true
			} else {
				all = false
			}
		}
		if some != tt.intersects || all != tt.covers {
			t.Errorf("rule %q filter %q: brute force says intersects %v covers %v", tt.rule, tt.filter, some, all)
		}
	}
}

func TestMatchTopicAllocs(t *testing.T) {
	r, _ := parseRule(true, "devices/%c/in/+/#")
	c := &broker.ClientInfo{ClientID: "d1"}
	topic := []byte("devices/d1/in/cmd/set/x")
	if n := testing.AllocsPerRun(100, func() { r.matchTopic(topic, c) }); n != 0 {
		t.Fatalf("matchTopic allocates %v times", n)
	}
	if !r.matchTopic(topic, c) {
		t.Fatal("no match")
	}
}
