package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/edgemq/edgemq/auth"
	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/transport"
)

// fileProblem returns why a file named by the config is unusable, or "":
// it cannot be read, or its contents do not parse (password and ACL files
// with the line at fault, CA files, certificates and keys, and whether a
// key belongs to its certificate). A certificate and its key are checked
// together; a problem is reported once, at the key of the file at fault.
func fileProblem(cfg *config.Config, ref config.FileRef) string {
	if msg := readable(ref.Path); msg != "" {
		return fmt.Sprintf("cannot read %q: %s", ref.Path, msg)
	}
	var err error
	switch ref.Kind {
	case config.FilePassword:
		_, err = auth.LoadPasswords(ref.Path)
	case config.FileACL:
		_, err = auth.LoadACL(ref.Path)
	case config.FileCA:
		_, err = transport.LoadCAPool(ref.Path)
	case config.FileCert, config.FileKey:
		err = keyPairProblem(cfg, ref)
	}
	if err == nil {
		return ""
	}
	var fe *transport.FileError
	if errors.As(err, &fe) {
		err = fe.Err
	}
	var ae *auth.FileError
	if errors.As(err, &ae) {
		return ae.Error() // path:line: problem
	}
	return fmt.Sprintf("%q: %v", ref.Path, err)
}

// keyPairProblem loads ref's certificate with its key (or key with its
// certificate) and returns the error when it concerns ref's file.
func keyPairProblem(cfg *config.Config, ref config.FileRef) error {
	prefix, field, _ := cutLast(ref.Key, ".")
	sibling := "key_file"
	if field == "key_file" {
		sibling = "cert_file"
	}
	var other string
	for _, r := range cfg.Files() {
		if r.Key == prefix+"."+sibling {
			other = r.Path
		}
	}
	if other == "" {
		return nil // validation reports the missing half
	}
	cert, key := ref.Path, other
	if field == "key_file" {
		cert, key = other, ref.Path
	}
	_, err := transport.LoadKeyPair(cert, key)
	var fe *transport.FileError
	if errors.As(err, &fe) && fe.Field != field {
		return nil // the other file's problem, reported at its own key
	}
	return err
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+len(sep):], true
}
