package packet

import "strings"

// Match reports whether a topic name matches a topic filter: "+" matches
// one level, "#" the rest (including the parent: "a/#" matches "a"
// [MQTT-4.7.1-2]), and a filter starting with a wildcard does not match a
// topic starting with "$" [MQTT-4.7.2-1]. The filter must be valid
// (ValidFilter); "$share/group/" must already be removed. It does not
// allocate. The broker's own routing uses its subscription trie; Match is
// for one filter against one topic (retained messages, bridge rules).
func Match[T ~string | ~[]byte](filter string, topic T) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		i := 0
		for i < len(topic) && topic[i] != '/' {
			i++
		}
		tl, tmore := topic[:i], i < len(topic)
		if fl != "+" && fl != string(tl) {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !fmore:
			return false
		case !tmore:
			return frest == "#" // "a/#" matches "a" [MQTT-4.7.1-2]
		}
		filter, topic = frest, topic[i+1:]
	}
}
