package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHeaderFor(t *testing.T) {
	got := headerFor("{{.ID}}\t{{.CreatedSince}}\t{{ .RepoTags }}\t{{.Size | upper}}", map[string]string{"ID": "IMAGE ID", "CreatedSince": "CREATED"})
	if got != "IMAGE ID\tCREATED\tREPO TAGS\tSIZE" {
		t.Fatalf("header %q", got)
	}
}

func TestListFormat(t *testing.T) {
	type row struct{ ID, Name string }
	rows := []any{row{"a1", "x"}, row{"b2", "yy"}}
	var b bytes.Buffer
	if err := (listFormat{defaultTable: "{{.ID}}\t{{.Name}}"}).write(&b, rows, rows); err != nil {
		t.Fatal(err)
	}
	if b.String() != "ID  NAME\na1  x\nb2  yy\n" {
		t.Fatalf("table %q", b.String())
	}
	b.Reset()
	if err := (listFormat{format: `{{.Name}}\t{{.ID}}`}).write(&b, rows, rows); err != nil {
		t.Fatal(err)
	}
	if b.String() != "x\ta1\nyy\tb2\n" {
		t.Fatalf("template %q", b.String())
	}
	b.Reset()
	if err := (listFormat{format: "json"}).write(&b, rows, rows); err != nil || !strings.Contains(b.String(), `"Name": "yy"`) {
		t.Fatalf("json %q %v", b.String(), err)
	}
	if err := (listFormat{format: "{{.Nope}}"}).write(&b, rows, rows); err == nil {
		t.Fatal("a template naming a missing field must fail")
	}
}

func TestCheckFormat(t *testing.T) {
	for _, ok := range []string{"", "json", "table", "table {{.ID}}", "{{json .}}"} {
		if err := checkFormat(ok); err != nil {
			t.Errorf("checkFormat(%q) = %v", ok, err)
		}
	}
	if err := checkFormat("{{.ID"); err == nil {
		t.Error("an unterminated template must be refused")
	}
}
