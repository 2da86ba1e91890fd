package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// deployRenderer is internal/deployrender, started once for the package's
// tests and fed their renders one at a time: kustomize and Helm render
// there rather than here, as linked into this test binary they took it
// from 55 MB to 109 MB and its link from 3.4 s to 13.5 s at every go test
// (the go command caches the executable go run builds: 0.5 s to start).
var deployRenderer struct {
	once   sync.Once
	err    error
	mu     sync.Mutex
	in     io.Writer
	out    *bufio.Reader
	stderr testsync.Buffer
}

// renderRequest and renderResponse are internal/deployrender's protocol.
type renderRequest struct {
	Kustomize string         `json:"kustomize,omitempty"`
	Chart     string         `json:"chart,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Values    map[string]any `json:"values,omitempty"`
}

type renderResponse struct {
	Objects   []json.RawMessage `json:"objects"`
	Files     map[string]string `json:"files"`
	Error     string            `json:"error"`
	LoadError string            `json:"load_error"`
}

// renderingTests are the tests that render (renderDeploy): when they are
// to run, TestMain starts internal/deployrender at once. A test missing
// here starts it when it first renders, as late as that.
var renderingTests = []string{"TestDeployExamples", "TestHelmChartRenders", "TestHelmChartRefusesBadValues", "TestHelmChartOtherNamespace"}

// prestartDeployRenderer starts internal/deployrender beside the package's
// first tests when -run selects a test that renders. go run takes 0.5 s
// to start on a quiet machine and 2.4 s at the start of go test ./...,
// and the tests that render are not parallel (they set the environment):
// every parallel test of the package waited for it.
func prestartDeployRenderer() {
	flag.Parse()
	if run := flag.Lookup("test.run").Value.String(); run != "" {
		top, _, _ := strings.Cut(run, "/")
		re, err := regexp.Compile(top)
		if err != nil || !slices.ContainsFunc(renderingTests, re.MatchString) {
			return
		}
	}
	r := &deployRenderer
	go r.once.Do(func() { r.err = startDeployRenderer() })
}

// renderDeploy has internal/deployrender render req; a path in it is
// relative to this directory.
func renderDeploy(t *testing.T, req renderRequest) renderResponse {
	t.Helper()
	r := &deployRenderer
	r.once.Do(func() { r.err = startDeployRenderer() })
	if r.err != nil {
		t.Fatalf("start internal/deployrender: %v", r.err)
	}
	for _, p := range []*string{&req.Kustomize, &req.Chart} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				t.Fatal(err)
			}
			*p = abs
		}
	}
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.in.Write(append(line, '\n')); err != nil {
		t.Fatalf("internal/deployrender: %v\n%s", err, r.stderr.String())
	}
	reply, err := r.out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("internal/deployrender: %v\n%s", err, r.stderr.String())
	}
	var resp renderResponse
	if err := json.Unmarshal(reply, &resp); err != nil {
		t.Fatalf("internal/deployrender's answer %q: %v", reply, err)
	}
	return resp
}

// startDeployRenderer starts internal/deployrender. It is never stopped:
// it ends when its stdin does, with this process.
func startDeployRenderer() error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	// go test puts its own go command first on the PATH of the tests.
	cmd := exec.Command("go", "run", "./internal/deployrender")
	cmd.Dir = root
	cmd.Stderr = &deployRenderer.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	deployRenderer.in, deployRenderer.out = in, bufio.NewReader(out)
	return nil
}
