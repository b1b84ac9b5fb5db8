package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds what Load reads: a config file is a few kilobytes.
const maxFileSize = 4 << 20

// Load reads and parses the config file at path. The error is an Errors
// listing every problem, or the error of reading the file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("file is larger than %s: not a config file", ByteSize(maxFileSize))}}
	}
	return Parse(data, path)
}

// Parse parses a config file's contents; filename is used in errors. Keys
// absent from the file take their defaults; an empty file gives Default().
// The error, if any, is an Errors holding every problem found, in file
// order.
func Parse(data []byte, filename string) (*Config, error) {
	c := Default()
	d := &decoder{file: filename, at: make(map[string]pos), bad: make(map[string]bool)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// Empty file, or comments only: all defaults.
	case err != nil:
		return nil, Errors{syntaxError(filename, err)}
	default:
		var extra yaml.Node
		switch err := dec.Decode(&extra); {
		case errors.Is(err, io.EOF):
		case err != nil:
			return nil, Errors{syntaxError(filename, err)}
		default:
			return nil, Errors{{File: filename, Line: extra.Line, Column: extra.Column,
				Msg: "a second YAML document: a config file holds one document (remove the ---)"}}
		}
		if len(doc.Content) == 1 {
			root := doc.Content[0]
			d.decode(root, reflect.ValueOf(c).Elem(), "", pos{root.Line, root.Column})
		}
	}
	c.src = &source{file: filename, at: d.at}
	errs := append(d.errs, c.check(d.bad)...)
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return c, nil
}

// Validate checks a Config built or changed in Go, with the same rules
// Parse applies. It fills no defaults: start from Default() and give list
// elements every value (a ws listener its Path, a bridge its Keepalive...).
// The error, if any, is an Errors.
func (c *Config) Validate() error {
	if errs := c.check(nil); len(errs) > 0 {
		errs.sort()
		return errs
	}
	return nil
}

// syntaxError turns a YAML syntax error into an Error with its line. The
// yaml library's syntax errors look like
// "yaml: line 3: mapping values are not allowed in this context".
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, ok := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); ok && err == nil {
			return &Error{File: file, Line: line, Msg: "YAML syntax: " + text}
		}
	}
	return &Error{File: file, Msg: "YAML syntax: " + msg}
}

// File returns the name of the file c was parsed from, as given to Load or
// Parse: what a reload (SIGHUP) reads again. It is "" for Default() and
// for a Config built in Go.
func (c *Config) File() string {
	if c.src == nil {
		return ""
	}
	return c.src.file
}
