package storage

import "testing"

func TestImageFilters(t *testing.T) {
	for _, bad := range []string{"color=blue", "dangling=maybe", "reference=", "noequals", "reference=[bad"} {
		if err := ParseImageFilters([]string{bad}); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
	fs, err := buildFilters([]string{"reference=*/skiff/busy*", "dangling=false", "label=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	sum := &ImageSummary{Names: []string{"127.0.0.1:5000/skiff/busybox:latest"}, Labels: map[string]string{"a": "b"}}
	for i, f := range fs {
		if !f(sum) {
			t.Fatalf("filter %d rejects %v", i, sum)
		}
	}
	sum.Labels["a"] = "c"
	if fs[2](sum) {
		t.Fatal("label value not compared")
	}
}

func TestMatchReference(t *testing.T) {
	names := []string{"docker.io/library/busybox:latest", "127.0.0.1:5000/skiff/multi:v1"}
	for pattern, want := range map[string]bool{
		"busybox":               true,
		"busybox:latest":        true,
		"library/busybox":       true,
		"*/skiff/*":             true,
		"skiff/multi:v1":        true,
		"skiff/multi:v2":        false,
		"docker.io/library/bu*": true,
		"alpine":                false,
	} {
		if got := matchReference(names, pattern); got != want {
			t.Errorf("matchReference(%q) = %v, want %v", pattern, got, want)
		}
	}
}

func TestParseReferenceNormalizes(t *testing.T) {
	named, err := ParseReference("busybox")
	if err != nil || named.String() != "docker.io/library/busybox:latest" {
		t.Fatalf("%v %v", named, err)
	}
	if _, err := ParseReference("::bad"); err == nil {
		t.Fatal("bad reference accepted")
	}
}

func TestNormalizeNamePutsShortNamesUnderLocalhost(t *testing.T) {
	for in, want := range map[string]string{
		"myapp":                 "localhost/myapp:latest",
		"myapp:1":               "localhost/myapp:1",
		"library/busybox":       "localhost/library/busybox:latest",
		"latest":                "localhost/latest:latest",
		"localhost/x:y":         "localhost/x:y",
		"docker.io/foo":         "docker.io/library/foo:latest",
		"127.0.0.1:5000/a/b:c":  "127.0.0.1:5000/a/b:c",
		"quay.io/org/repo":      "quay.io/org/repo:latest",
		"docker://example.io/x": "example.io/x:latest",
	} {
		got, err := NormalizeName(in)
		if err != nil || got.String() != want {
			t.Errorf("NormalizeName(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER", "::bad"} {
		if _, err := NormalizeName(bad); err == nil {
			t.Errorf("NormalizeName(%q) accepted", bad)
		}
	}
}
