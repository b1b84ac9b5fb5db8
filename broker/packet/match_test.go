package packet

import "testing"

// Filter/topic pairs from the examples of MQTT 3.1.1 section 4.7 and 5.0
// section 4.7.
var matchCases = []struct {
	filter, topic string
	want          bool
}{
	{"sport/tennis/player1/#", "sport/tennis/player1", true}, // [MQTT-4.7.1-2]
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player1/tranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+/tennis/#", "sport/tennis", true},
	{"a/b", "a/b", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a/+/c", "a//c", true},
	{"+", "", true},
	{"#", "$SYS/broker", false}, // [MQTT-4.7.2-1]
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"a/#", "a/$b", true},
	{"A/b", "a/b", false},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		if got := Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
		if got := Match(tc.filter, []byte(tc.topic)); got != tc.want {
			t.Errorf("Match(%q, []byte(%q)) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
	topic := []byte("sport/tennis/player1/ranking")
	if n := testing.AllocsPerRun(100, func() { Match("sport/+/player1/#", topic) }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}
