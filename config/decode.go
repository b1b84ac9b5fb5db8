package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks a yaml.Node tree into the config structs by their yaml tags.
// It is strict like yaml's KnownFields, but reports every problem (not only
// the first) with its column and its key path instead of a Go type name, and
// records where each key was so that validation can point at it too.
type decoder struct {
	file string
	errs Errors
	at   map[string]pos  // key path -> position of the key or list element
	bad  map[string]bool // key paths whose value could not be decoded
}

// defaulter is implemented by list elements and optional blocks that have
// defaults of their own: a new element starts from them before its keys are
// decoded over it.
type defaulter interface {
	setDefaults()
}

// filler is implemented by structs with defaults that depend on other keys
// (a listener's name and path); has reports which keys were present.
type filler interface {
	fill(has func(key string) bool)
}

func (d *decoder) errorf(at pos, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: at.line, Column: at.col, Key: key, Msg: fmt.Sprintf(format, args...)})
	d.bad[key] = true
}

// decode decodes n into v. key is n's path and at where it is reported.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string, at pos) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.errorf(at, key, "no value given (remove the key to use the default, or give %s)", want(v.Type()))
		return
	}
	switch v.Type() {
	case reflect.TypeFor[time.Duration]():
		d.duration(n, v, key, at)
		return
	case reflect.TypeFor[ByteSize]():
		d.byteSize(n, v, key, at)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, key, at)
	case reflect.Slice:
		d.sequence(n, v, key, at)
	case reflect.Map:
		d.mapping(n, v, key, at)
	case reflect.Pointer:
		if v.IsNil() {
			nv := reflect.New(v.Type().Elem())
			if df, ok := nv.Interface().(defaulter); ok {
				df.setDefaults()
			}
			v.Set(nv)
		}
		d.decode(n, v.Elem(), key, at)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errorf(at, key, "expected true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(at, key, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := d.integer(n, key, at)
		if !ok {
			return
		}
		if v.OverflowInt(i) {
			d.errorf(at, key, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(at, key, "expected %s, got %s", want(v.Type()), describe(n))
			return
		}
		if e, ok := v.Interface().(enum); ok && !slices.Contains(e.values(), n.Value) {
			d.errorf(at, key, "must be one of %s; got %q", strings.Join(e.values(), ", "), n.Value)
			return
		}
		v.SetString(n.Value)
	default:
		panic("config: no decoder for " + v.Type().String())
	}
}

// structure decodes a mapping into a struct, field by yaml tag.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, key string, at pos) {
	if n.Kind != yaml.MappingNode {
		d.errorf(at, key, "expected a mapping of keys, got %s", describe(n))
		return
	}
	fields := tagIndex(v.Type())
	seen := make(map[string]pos)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		kp := pos{kn.Line, kn.Column}
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kp, key, "a key must be a plain name, got %s", describe(kn))
			continue
		}
		name := kn.Value
		child := joinKey(key, name)
		if name == "<<" {
			d.errorf(kp, child, "merge keys (<<) are not supported: write the keys out")
			continue
		}
		if first, dup := seen[name]; dup {
			d.errorf(kp, child, "duplicate key (first given at line %d)", first.line)
			continue
		}
		seen[name] = kp
		idx, ok := fields[name]
		if !ok {
			d.errorf(kp, child, "unknown key%s", suggest(name, fields))
			continue
		}
		d.at[child] = kp
		d.decode(vn, v.Field(idx), child, kp)
	}
	if f, ok := v.Addr().Interface().(filler); ok {
		f.fill(func(k string) bool { _, ok := seen[k]; return ok })
	}
}

// sequence decodes a list; each element starts from its type's defaults.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, key string, at pos) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(at, key, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, en := range n.Content {
		ek := key + "[" + strconv.Itoa(i) + "]"
		ep := pos{en.Line, en.Column}
		d.at[ek] = ep
		ev := s.Index(i)
		if df, ok := ev.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(en, ev, ek, ep)
	}
	v.Set(s)
}

// mapping decodes a mapping into a Go map. Integer keys are ids and must be
// from 1 to the largest value of the key type.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string, at pos) {
	if n.Kind != yaml.MappingNode {
		d.errorf(at, key, "expected a mapping, got %s", describe(n))
		return
	}
	kt, vt := v.Type().Key(), v.Type().Elem()
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]pos)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		kp := pos{kn.Line, kn.Column}
		child := joinKey(key, kn.Value)
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kp, key, "a key must be a plain value, got %s", describe(kn))
			continue
		}
		kv := reflect.New(kt).Elem()
		switch kt.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			var u uint64
			err := kn.Decode(&u)
			if kn.ShortTag() != "!!int" || err != nil || u == 0 || reflect.Zero(kt).OverflowUint(u) {
				d.errorf(kp, child, "key must be an integer from 1 to %d", uint64(1)<<kt.Bits()-1)
				continue
			}
			kv.SetUint(u)
		case reflect.String:
			kv.SetString(kn.Value)
		default:
			panic("config: no decoder for map key " + kt.String())
		}
		canon := fmt.Sprint(kv.Interface())
		child = joinKey(key, canon)
		if first, dup := seen[canon]; dup {
			d.errorf(kp, child, "duplicate key (first given at line %d)", first.line)
			continue
		}
		seen[canon] = kp
		d.at[child] = kp
		ev := reflect.New(vt).Elem()
		before := len(d.errs)
		d.decode(vn, ev, child, kp)
		if len(d.errs) == before {
			m.SetMapIndex(kv, ev)
		}
	}
	v.Set(m)
}

// integer decodes a YAML integer (decimal, 0x, 0o forms).
func (d *decoder) integer(n *yaml.Node, key string, at pos) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(at, key, "expected an integer, got %s", describe(n))
		return 0, false
	}
	var i int64
	if err := n.Decode(&i); err != nil {
		d.errorf(at, key, "%s is out of range", n.Value)
		return 0, false
	}
	return i, true
}

// duration decodes a string such as "50ms" or "900s", or the integer 0.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, key string, at pos) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(at, key, "expected a duration such as 30s, got %s", describe(n))
		return
	}
	if n.ShortTag() == "!!int" && n.Value != "0" {
		d.errorf(at, key, "invalid duration %s: give a unit, e.g. %ss or %sms", n.Value, n.Value, n.Value)
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(at, key, "invalid duration %q (want a number with a unit: ms, s, m or h, e.g. 500ms, 30s, 15m)", n.Value)
		return
	}
	if dur < 0 {
		d.errorf(at, key, "duration %s must not be negative", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// byteSize decodes an integer or a string with a unit (ParseByteSize).
func (d *decoder) byteSize(n *yaml.Node, v reflect.Value, key string, at pos) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(at, key, "expected a byte size such as 4MiB, got %s", describe(n))
		return
	}
	var b ByteSize
	switch n.ShortTag() {
	case "!!int":
		i, ok := d.integer(n, key, at)
		if !ok {
			return
		}
		if i < 0 {
			d.errorf(at, key, "byte size %d must not be negative", i)
			return
		}
		b = ByteSize(i)
	case "!!str":
		var err error
		if b, err = ParseByteSize(n.Value); err != nil {
			d.errorf(at, key, "%v", err)
			return
		}
	default:
		d.errorf(at, key, "expected a byte size such as 4MiB, got %s", describe(n))
		return
	}
	v.SetInt(int64(b))
}

// tagIndex maps each yaml tag name of struct type t to its field index.
func tagIndex(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := tagName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

// tagName is the yaml key of a struct field, "" for unexported or untagged.
func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// want describes what a value of type t looks like in YAML.
func want(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 30s"
	case reflect.TypeFor[ByteSize]():
		return "a byte size such as 4MiB"
	}
	if e, ok := reflect.Zero(t).Interface().(enum); ok {
		return "one of " + strings.Join(e.values(), ", ")
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return `a string ("" for empty)`
	}
	return "an integer"
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return describe(n.Alias)
	}
	if n.ShortTag() == "!!null" {
		return "no value"
	}
	return strconv.Quote(n.Value)
}

// suggest proposes the known key closest to an unknown one.
func suggest(name string, fields map[string]int) string {
	best, bestDist := "", 3
	for f := range fields {
		if dist := editDistance(name, f); dist < bestDist || dist == bestDist && f < best {
			best, bestDist = f, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
