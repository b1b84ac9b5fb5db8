package config

import (
	"cmp"
	"fmt"
	"slices"
)

// Kinds of files a config refers to.
const (
	FileCert     = "cert"     // PEM certificate chain
	FileKey      = "key"      // PEM private key
	FileCA       = "ca"       // PEM CA certificates
	FilePassword = "password" // edgemq password file
	FileACL      = "acl"      // mosquitto-style ACL file
)

// FileRef is a file the config names. config never opens it: the package
// that uses the file parses it, and edgemq check reports its problems at
// Key and Line (see Config.ErrorAt).
type FileRef struct {
	Key  string // e.g. "listeners[1].cert_file"
	Line int    // line of Key in the config file; 0 if not parsed from a file
	Path string // as written: relative paths are relative to the working directory
	Kind string // FileCert, FileKey, FileCA, FilePassword or FileACL
}

// Files lists the files the config refers to, in the order of their lines
// in the config file (for a Config built in Go: auth files, then listener
// and bridge TLS files). Empty paths are left out.
func (c *Config) Files() []FileRef {
	var refs []FileRef
	add := func(key, path, kind string) {
		if path == "" {
			return
		}
		refs = append(refs, FileRef{Key: key, Line: c.src.find(key).line, Path: path, Kind: kind})
	}
	add("auth.password_file", c.Auth.PasswordFile, FilePassword)
	add("auth.acl_file", c.Auth.ACLFile, FileACL)
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d].", i)
		add(key+"cert_file", l.CertFile, FileCert)
		add(key+"key_file", l.KeyFile, FileKey)
		add(key+"client_ca_file", l.ClientCAFile, FileCA)
	}
	for i, b := range c.Bridges {
		key := fmt.Sprintf("bridges[%d].", i)
		add(key+"ca_file", b.CAFile, FileCA)
		add(key+"cert_file", b.CertFile, FileCert)
		add(key+"key_file", b.KeyFile, FileKey)
	}
	slices.SortStableFunc(refs, func(a, b FileRef) int { return cmp.Compare(a.Line, b.Line) })
	return refs
}
