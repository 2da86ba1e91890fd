// Command deployrender renders graceguard's deployment manifests, the
// kustomize examples and the Helm chart, for cmd/graceguard's tests, which
// check what they render in package main (with graceguard's own flag set)
// but run this (go run, whose executable the go command caches) rather
// than link kustomize and Helm into their test binary: the two took it from
// 55 MB to 109 MB, and its link, at every go test and before the package's
// first test can start, from 3.4 s to 13.5 s on the 2-core machine (4.4 s
// to 15.5 s of CPU). It is for those tests only.
//
// It reads requests on stdin, a JSON object a line, and answers each on
// stdout with a JSON object a line, until stdin ends (the test binary that
// started it exited):
//
//	{"kustomize": DIR}
//	   {"objects": [OBJECT, ...]}  each as kustomize's MarshalJSON has it
//	{"chart": DIR, "namespace": NS, "values": {...}}
//	   {"files": {NAME: TEXT, ...}}  as `helm template graceguard -n NS` renders them
//
// or {"error": TEXT} when the build or the render failed, {"load_error":
// TEXT} when the chart did not load.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

type request struct {
	Kustomize string         `json:"kustomize,omitempty"`
	Chart     string         `json:"chart,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Values    map[string]any `json:"values,omitempty"`
}

type response struct {
	Objects   []json.RawMessage `json:"objects,omitempty"`
	Files     map[string]string `json:"files,omitempty"`
	Error     string            `json:"error,omitempty"`
	LoadError string            `json:"load_error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	charts := map[string]*chart.Chart{}
	for in.Scan() {
		var req request
		var resp response
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			resp.Error = fmt.Sprintf("deployrender: the request: %v", err)
		} else if req.Kustomize != "" {
			resp = kustomize(req.Kustomize)
		} else {
			resp = helm(charts, req)
		}
		if err := out.Encode(resp); err != nil {
			fmt.Fprintln(os.Stderr, "deployrender:", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "deployrender:", err)
		os.Exit(1)
	}
}

func kustomize(dir string) response {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return response{Error: err.Error()}
	}
	var resp response
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return response{Error: err.Error()}
		}
		resp.Objects = append(resp.Objects, data)
	}
	return resp
}

func helm(charts map[string]*chart.Chart, req request) response {
	ch := charts[req.Chart]
	if ch == nil {
		var err error
		if ch, err = loader.Load(req.Chart); err != nil {
			return response{LoadError: err.Error()}
		}
		charts[req.Chart] = ch
	}
	opts := chartcommon.ReleaseOptions{Name: "graceguard", Namespace: req.Namespace, IsInstall: true}
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, req.Values, opts, nil, false)
	if err != nil {
		return response{Error: err.Error()}
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return response{Error: err.Error()}
	}
	return response{Files: files}
}
