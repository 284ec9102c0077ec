package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"
)

// templateFuncs are the helpers docker's --format offers.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"join":  strings.Join,
	"split": strings.Split,
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
}

// parseTemplate compiles a user's --format, turning the two-character
// escapes \t and \n into the characters, as docker does.
func parseTemplate(text string) (*template.Template, error) {
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	t, err := template.New("format").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, usagef("invalid --format template: %v", err)
	}
	return t, nil
}

var fieldRef = regexp.MustCompile(`\{\{\s*\.([A-Za-z0-9_]+)[^}]*\}\}`)

// headerFor turns each {{.Field}} of a table template into its column title.
func headerFor(text string, titles map[string]string) string {
	return fieldRef.ReplaceAllStringFunc(text, func(m string) string {
		name := fieldRef.FindStringSubmatch(m)[1]
		if t, ok := titles[name]; ok {
			return t
		}
		return splitCamel(name)
	})
}

func splitCamel(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// listOptions are how a listing command prints (volume ls, network ls).
type listOptions struct {
	format           string
	quiet, noHeading bool
	noTrunc          bool // network ls: whole ids
}

// listFormat is how a listing command prints its rows.
type listFormat struct {
	format       string            // the user's --format, or ""
	defaultTable string            // the table template used when format is "" or "table"
	titles       map[string]string // column titles for fields
	noHeader     bool
}

// write prints rows as a table, one template per row, or a JSON array.
// jsonRows is what --format json prints (often richer than the rows).
func (f listFormat) write(w io.Writer, rows []any, jsonRows any) error {
	format := f.format
	switch {
	case format == "json":
		b, err := json.MarshalIndent(jsonRows, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case format == "" || format == "table":
		format = "table " + f.defaultTable
	}
	table := strings.HasPrefix(format, "table")
	body := strings.TrimSpace(strings.TrimPrefix(format, "table"))
	if table && body == "" {
		body = f.defaultTable
	}
	t, err := parseTemplate(body)
	if err != nil {
		return err
	}
	var out io.Writer = w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		out = tw
		if !f.noHeader {
			fmt.Fprintln(out, strings.NewReplacer(`\t`, "\t").Replace(headerFor(body, f.titles)))
		}
	}
	var buf bytes.Buffer
	for _, r := range rows {
		buf.Reset()
		if err := t.Execute(&buf, r); err != nil {
			return usagef("executing --format template: %v", err)
		}
		buf.WriteByte('\n')
		if _, err := out.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// checkFormat validates a --format value before any work is done.
func checkFormat(format string) error {
	body := strings.TrimSpace(strings.TrimPrefix(format, "table"))
	if format == "" || format == "json" || body == "" {
		return nil
	}
	_, err := parseTemplate(body)
	return err
}

// writeOne prints a single value with a template, or as indented JSON.
func writeOne(w io.Writer, format string, v any) error {
	if format == "" || format == "json" {
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	t, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return usagef("executing --format template: %v", err)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		buf.WriteByte('\n')
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// inspectOptions are the options of inspect and its volume and network
// forms.
type inspectOptions struct {
	names  []string
	all    bool   // volume inspect: every volume
	kind   string // inspect: container, image, all or ""
	format string
}

// inspectEach looks each name up and writes what it found as inspect does;
// the names not found fail the command once the rest are written.
func inspectEach[T any](w io.Writer, format string, names []string, lookup func(string) (T, error)) error {
	var out []any
	var errs []error
	for _, n := range names {
		v, err := lookup(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	if err := writeInspect(w, format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// writeInspect prints what inspect found: a JSON array of all, or each
// through the --format template.
func writeInspect(w io.Writer, format string, items []any) error {
	if format == "" || format == "json" {
		if items == nil {
			items = []any{}
		}
		return writeOne(w, "json", items)
	}
	for _, it := range items {
		if err := writeOne(w, format, it); err != nil {
			return err
		}
	}
	return nil
}
