package config

// IsSet reports whether key was given in the file c was parsed from, so
// that a caller can tell a value the user chose from a default filled in
// for an absent key (edgemq sizes absent limits from the board's memory,
// but never overrides a value the user wrote, even one equal to the
// default). key is a path as in Error.Key: "limits.max_connections",
// "listeners[0].address", "mqttsn.predefined_topics.1". A key whose parent
// mapping was given empty ("limits: {}") is not set. For a Config not
// parsed from a file (Default, or built in Go) IsSet is always false.
func (c *Config) IsSet(key string) bool {
	return c.src.has(key)
}
