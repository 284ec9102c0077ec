package test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubeAPIServer is a real kube-apiserver (test/kubeapi.sh) that accepts or
// refuses Kubernetes objects, for tests of the YAML skiff reads and writes.
type kubeAPIServer struct {
	url, token, kubeconfig string
	client                 *http.Client
}

// kubeAPI is started by the first test that asks for it and stopped when
// the package's tests end (testMain).
var kubeAPI struct {
	once    sync.Once
	srv     *kubeAPIServer
	err     error
	started bool
}

// startKubeAPI returns the package's API server, starting it the first time.
func startKubeAPI(t *testing.T) *kubeAPIServer {
	t.Helper()
	requireE2E(t)
	kubeAPI.once.Do(func() {
		kubeAPI.started = true
		kubeAPI.srv, kubeAPI.err = launchKubeAPI()
	})
	if kubeAPI.err != nil {
		t.Fatal(kubeAPI.err)
	}
	return kubeAPI.srv
}

func launchKubeAPI() (*kubeAPIServer, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("bash", "kubeapi.sh", "start")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("test/kubeapi.sh start: %v\n%s", err, stderr.String())
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	ca, err := os.ReadFile(vars["KUBEAPI_CA"])
	if err != nil {
		return nil, fmt.Errorf("test/kubeapi.sh start printed %q: %w", out, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", vars["KUBEAPI_CA"])
	}
	return &kubeAPIServer{
		url:        vars["KUBEAPI_URL"],
		token:      vars["KUBEAPI_TOKEN"],
		kubeconfig: vars["KUBECONFIG"],
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		},
	}, nil
}

func stopKubeAPI() {
	if kubeAPI.started {
		cmd := exec.Command("bash", "kubeapi.sh", "stop")
		cmd.Stderr = os.Stderr
		cmd.Run()
	}
}

// do sends one request with the server's token; a JSON body, if any.
func (s *kubeAPIServer) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// dryRunCreate POSTs obj (JSON) to collection as a strict dry run: the
// server decodes, defaults, validates and admits it, and stores nothing.
// The default namespace is made by the server just after it is ready, so a
// "not found" for it is waited out.
func (s *kubeAPIServer) dryRunCreate(t *testing.T, collection, obj string) (int, string) {
	t.Helper()
	path := collection + "?dryRun=All&fieldValidation=Strict"
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := s.do(t, "POST", path, obj)
		if code != http.StatusNotFound || !strings.Contains(body, "namespaces") || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKubeAPIServerStrictDryRun: the API server the kube tests check YAML
// against accepts a valid Pod in a strict dry run without storing it, and
// refuses an unknown field (strict decoding) and an invalid value
// (validation) with Kubernetes' own messages.
func TestKubeAPIServerStrictDryRun(t *testing.T) {
	s := startKubeAPI(t)
	const pods = "/api/v1/namespaces/default/pods"
	pod := func(name, containerField string) string {
		return `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "` + name + `"},
			"spec": {"containers": [{"name": "c", ` + containerField + `: "` + busybox + `", "command": ["true"]}]}}`
	}
	cases := []struct {
		name string
		obj  string
		code int
		want string // a substring the response must hold
	}{
		{"valid", pod("skiff-dry-run", `"image"`), http.StatusCreated, `"name":"skiff-dry-run"`},
		{"unknown field", pod("skiff-dry-run", `"imagee"`), http.StatusBadRequest, `strict decoding error: unknown field \"spec.containers[0].imagee\"`},
		{"invalid name", pod("Skiff_Dry_Run", `"image"`), http.StatusUnprocessableEntity, `metadata.name: Invalid value: \"Skiff_Dry_Run\"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := s.dryRunCreate(t, pods, c.obj)
			if code != c.code || !strings.Contains(body, c.want) {
				t.Fatalf("POST %s: %d %s\nwant %d and %s", pods, code, body, c.code, c.want)
			}
		})
	}
	if code, body := s.do(t, "GET", pods+"/skiff-dry-run", ""); code != http.StatusNotFound {
		t.Fatalf("a dry run stored the pod: GET says %d %s", code, body)
	}
}
