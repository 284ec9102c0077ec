// Package systemd writes systemd units for containers: `generate systemd`
// for an existing container, and the Quadlet-style generator that turns
// .container, .volume and .network files into services.
package systemd

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// UnitFile is a systemd unit file as read: sections and their entries in
// order, each with its line, so that errors can name it.
type UnitFile struct {
	Path     string
	Sections []*Section
}

// Section is one [Name] of a unit file.
type Section struct {
	Name    string
	Line    int
	Entries []Entry
}

// Entry is one KEY=VALUE line (continuation lines joined).
type Entry struct {
	Key, Value string
	Line       int
}

// Error is a problem in a unit file, at a line.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Parse reads a unit file: comments (# and ;), sections, KEY=VALUE with
// lines continued by a trailing backslash.
func Parse(path string, data []byte) (*UnitFile, error) {
	u := &UnitFile{Path: path}
	var cur *Section
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		start := n
		for strings.HasSuffix(line, "\\") && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, &Error{path, start, fmt.Sprintf("invalid section header %q", line)}
			}
			cur = &Section{Name: line[1 : len(line)-1], Line: start}
			u.Sections = append(u.Sections, cur)
		default:
			k, v, ok := strings.Cut(line, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, &Error{path, start, fmt.Sprintf("want KEY=VALUE, not %q", line)}
			}
			if cur == nil {
				return nil, &Error{path, start, fmt.Sprintf("%s= comes before any [section]", k)}
			}
			cur.Entries = append(cur.Entries, Entry{Key: k, Value: strings.TrimSpace(v), Line: start})
		}
	}
	return u, sc.Err()
}

// Section returns the named section, nil when there is none.
func (u *UnitFile) Section(name string) *Section {
	for _, s := range u.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Lookup is the last value of key in the section (systemd's rule for
// single-valued keys).
func (s *Section) Lookup(key string) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	for i := len(s.Entries) - 1; i >= 0; i-- {
		if s.Entries[i].Key == key {
			return s.Entries[i], true
		}
	}
	return Entry{}, false
}

// All are every entry of key, in order.
func (s *Section) All(key string) []Entry {
	if s == nil {
		return nil
	}
	var out []Entry
	for _, e := range s.Entries {
		if e.Key == key {
			out = append(out, e)
		}
	}
	return out
}

// SplitWords splits a value as systemd does for ExecStart= and
// Environment=: on white space, with double and single quotes and
// backslash escapes.
func SplitWords(v string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\'') && (!inWord || cur.Len() == 0):
			quote, inWord = c, true
		case c == '\\' && i+1 < len(v) && quote != '\'':
			i++
			switch v[i] {
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			default:
				cur.WriteByte(v[i])
			}
			inWord = true
		case quote == 0 && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced quotes in %q", v)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// Quote writes one argument for an Exec*= line: specifiers (%) and
// variables ($) are escaped, and an argument with white space, quotes or
// backslashes is quoted.
func Quote(arg string) string {
	arg = strings.NewReplacer("%", "%%", "$", "$$").Replace(arg)
	if arg != "" && !strings.ContainsAny(arg, " \t\n\"'\\;") {
		return arg
	}
	r := strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "\n", "\\n", "\t", "\\t")
	return "\"" + r.Replace(arg) + "\""
}

// ExecLine joins a command for an Exec*= line. Words of verbatim are
// already escaped (they carry systemd specifiers such as %t or %N).
func ExecLine(args []string, verbatim map[int]bool) string {
	out := make([]string, len(args))
	for i, a := range args {
		if verbatim[i] {
			out[i] = a
		} else {
			out[i] = Quote(a)
		}
	}
	return strings.Join(out, " ")
}

// Unit is a unit being written: sections in order, each its lines.
type Unit struct {
	sections []string
	lines    map[string][]string
}

// Add appends KEY=VALUE to a section, the section last if new.
func (u *Unit) Add(section, key, value string) {
	if u.lines == nil {
		u.lines = map[string][]string{}
	}
	if _, ok := u.lines[section]; !ok {
		u.sections = append(u.sections, section)
		u.lines[section] = nil
	}
	u.lines[section] = append(u.lines[section], key+"="+value)
}

// AddSection copies a section of a unit file.
func (u *Unit) AddSection(name string, s *Section) {
	if s == nil {
		return
	}
	for _, e := range s.Entries {
		u.Add(name, e.Key, e.Value)
	}
}

// String renders the unit, sections separated by blank lines.
func (u *Unit) String() string {
	var b strings.Builder
	for i, s := range u.sections {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s]\n", s)
		for _, l := range u.lines[s] {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
