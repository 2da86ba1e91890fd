package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// No Docker engine runs where these tests do, so they check the Dockerfile
// itself: its shape, and, more to the point, that the build command it runs
// (read from the file, not copied here) makes the binary the image promises.

type dockerInstr struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

type dockerStage struct {
	image, name string
	instrs      []dockerInstr
}

// parseDockerfile reads instructions with their line continuations. It knows
// only what graceguard's Dockerfile uses; anything it cannot read fails the
// test rather than being skipped.
func parseDockerfile(t *testing.T, path string) (global []dockerInstr, stages []dockerStage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			st := dockerStage{}
			switch {
			case len(f) == 1:
				st.image = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.image, st.name = f[0], f[2]
			default:
				t.Fatalf("%s:%d: cannot read FROM %q", path, in.line, in.args)
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			global = append(global, in)
			return
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue // comments are dropped, also inside a continuation
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return global, stages
}

func (s dockerStage) all(cmd string) []dockerInstr {
	var out []dockerInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// buildRun is the build stage's RUN that runs go build, without its
// --mount flags: a shell script, as /bin/sh -c gets it.
func buildRun(t *testing.T, st dockerStage) string {
	t.Helper()
	var found []string
	for _, in := range st.all("RUN") {
		if !strings.Contains(in.args, "go build") {
			continue
		}
		script := in.args
		for strings.HasPrefix(script, "--") {
			_, script, _ = strings.Cut(script, " ")
			script = strings.TrimSpace(script)
		}
		if strings.HasPrefix(script, "[") {
			t.Fatalf("Dockerfile:%d: the go build RUN is in exec form; the test reads the shell form", in.line)
		}
		found = append(found, script)
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one RUN with go build in stage %q, found %d", st.name, len(found))
	}
	return found[0]
}

// copyFrom returns the COPY --from=<stage> instructions as (flags, src, dst).
func copyFrom(st dockerStage, stage string) [][3]string {
	var out [][3]string
	for _, in := range st.all("COPY") {
		f := strings.Fields(in.args)
		var flags []string
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			flags = append(flags, f[0])
			f = f[1:]
		}
		if len(f) == 2 && strings.Contains(strings.Join(flags, " "), "--from="+stage) {
			out = append(out, [3]string{strings.Join(flags, " "), f[0], f[1]})
		}
	}
	return out
}

type dockerfileFacts struct {
	build, final dockerStage
	script       string            // the go build RUN
	outPath      string            // its -o
	args         map[string]string // the build stage's ARG defaults
	binary       string            // where the final image has it
	stateDir     string
}

var goBuildOut = regexp.MustCompile(`\s-o\s+(\S+)`)

func readDockerfile(t *testing.T) dockerfileFacts {
	t.Helper()
	_, stages := parseDockerfile(t, filepath.Join("..", "..", "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(stages))
	}
	var fx dockerfileFacts
	fx.final = stages[len(stages)-1]
	for _, st := range stages[:len(stages)-1] {
		if st.name != "" && len(copyFrom(fx.final, st.name)) > 0 {
			fx.build = st
		}
	}
	if fx.build.name == "" {
		t.Fatal("the final stage copies from no named build stage")
	}
	fx.script = buildRun(t, fx.build)
	m := goBuildOut.FindStringSubmatch(fx.script)
	if m == nil {
		t.Fatalf("go build RUN has no -o: %s", fx.script)
	}
	fx.outPath = m[1]
	fx.args = map[string]string{}
	for _, in := range fx.build.all("ARG") {
		for _, a := range strings.Fields(in.args) {
			k, v, _ := strings.Cut(a, "=")
			fx.args[k] = v
		}
	}
	for _, c := range copyFrom(fx.final, fx.build.name) {
		switch {
		case c[1] == fx.outPath:
			fx.binary = c[2]
		case strings.Contains(c[0], "--chown="):
			fx.stateDir = c[2]
		}
	}
	return fx
}

func TestDockerfileShape(t *testing.T) {
	t.Parallel()
	fx := readDockerfile(t)
	final := fx.final
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot(@sha256:[0-9a-f]{64})?$`).MatchString(final.image) {
		t.Errorf("final stage FROM %s: want gcr.io/distroless/static-debianN:nonroot", final.image)
	}
	if runs := final.all("RUN"); len(runs) > 0 {
		t.Errorf("Dockerfile:%d: a RUN in the distroless stage cannot work: it has no shell", runs[0].line)
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("final stage sets no USER")
	}
	uidText, _, _ := strings.Cut(users[len(users)-1].args, ":")
	uid, err := strconv.Atoi(uidText)
	if err != nil || uid == 0 {
		// Kubernetes verifies runAsNonRoot only against a numeric user.
		t.Errorf("USER %q: want a numeric, non-zero uid", users[len(users)-1].args)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version="} {
		if !strings.Contains(fx.script, want) {
			t.Errorf("the go build RUN lacks %s: %s", want, fx.script)
		}
	}
	if fx.binary == "" {
		t.Fatalf("the final stage does not copy %s (go build -o) from stage %q", fx.outPath, fx.build.name)
	}
	entry := final.all("ENTRYPOINT")
	var argv []string
	if len(entry) != 1 || json.Unmarshal([]byte(entry[0].args), &argv) != nil || len(argv) == 0 || argv[0] != fx.binary {
		t.Errorf("want ENTRYPOINT [%q] in exec form (signals reach graceguard, not a shell), got %v", fx.binary, entry)
	}
	// Read-only root filesystem: every file graceguard writes goes under
	// the state directory, which must be a volume the user can write and
	// the working directory (watch's default --state-dir is relative).
	if fx.stateDir == "" {
		t.Fatal("the final stage creates no state directory (COPY --chown from the build stage)")
	}
	var chowned bool
	for _, c := range copyFrom(final, fx.build.name) {
		chowned = chowned || (c[2] == fx.stateDir && strings.Contains(c[0], fmt.Sprintf("--chown=%d:", uid)))
	}
	if !chowned {
		t.Errorf("%s is not owned by uid %d", fx.stateDir, uid)
	}
	if w := final.all("WORKDIR"); len(w) == 0 || w[len(w)-1].args != fx.stateDir {
		t.Errorf("WORKDIR %v: want %s", w, fx.stateDir)
	}
	if v := final.all("VOLUME"); len(v) != 1 || !strings.Contains(v[0].args, `"`+fx.stateDir+`"`) {
		t.Errorf("VOLUME %v: want [%q]", v, fx.stateDir)
	}
	if _, ok := fx.args["GEOIP_DEMO"]; !ok || !strings.Contains(fx.script, "nogeoipdemo") {
		t.Errorf("want ARG GEOIP_DEMO choosing the nogeoipdemo tag in the go build RUN")
	}
}

// dockerContext copies the repository as a builder would see it: filtered
// by .dockerignore.
func dockerContext(t *testing.T, root string) string {
	t.Helper()
	pm := dockerIgnore(t, root)
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." || !d.Type().IsRegular() {
			return nil
		}
		if ignored, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || ignored {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// dockerIgnore reads .dockerignore as BuildKit does.
func dockerIgnore(t *testing.T, root string) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

var goEmbed = regexp.MustCompile(`(?m)^//go:embed (.+)$`)

// Files a package embeds are read by go build: the build context must let
// them in, or the image build fails on a builder far from here.
func TestDockerignoreLetsEmbeddedFilesIn(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	pm := dockerIgnore(t, root)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range goEmbed.FindAllStringSubmatch(string(data), -1) {
			for _, pattern := range strings.Fields(m[1]) {
				files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), pattern))
				if len(files) == 0 {
					t.Errorf("%s: //go:embed %s matches nothing", path, pattern)
				}
				for _, f := range files {
					rel, _ := filepath.Rel(root, f)
					if ignored, _ := pm.MatchesOrParentMatches(filepath.ToSlash(rel)); ignored {
						t.Errorf("%s embeds %s, which .dockerignore leaves out of the build context", path, rel)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDockerfileBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds graceguard twice with the Dockerfile's command (seconds with a warm build cache, a minute or two cold)")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; the built binary is run here")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	fx := readDockerfile(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := dockerContext(t, root)
	const stamp = "v0.0.0-dockerfile-test"

	build := func(t *testing.T, geoipDemo string) string {
		bin := filepath.Join(t.TempDir(), "graceguard")
		script := strings.ReplaceAll(fx.script, fx.outPath, bin)
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = ctxDir
		// The script sets the build's knobs itself; none may leak in from
		// the environment the tests run in.
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			switch k {
			case "GOFLAGS", "CGO_ENABLED", "GOOS", "GOARCH", "GOEXPERIMENT", "GOAMD64", "GOARM64":
				continue
			}
			cmd.Env = append(cmd.Env, kv)
		}
		for k, v := range fx.args {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH, "VERSION="+stamp)
		if geoipDemo != "" {
			cmd.Env = append(cmd.Env, "GEOIP_DEMO="+geoipDemo)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the Dockerfile's build command failed: %v\n%s\n%s", err, script, out)
		}
		return bin
	}

	checkStatic := func(t *testing.T, bin string) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s has a %v program header: not static, distroless/static cannot run it", bin, p.Type)
			}
		}
		for _, name := range []string{".interp", ".dynamic"} {
			if f.Section(name) != nil {
				t.Errorf("%s has a %s section", bin, name)
			}
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
			t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q; want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil || !strings.Contains(string(out), "graceguard "+stamp+" ") {
			t.Errorf("version: %q, %v; want the stamped %s", out, err, stamp)
		}
		st, _ := os.Stat(bin)
		t.Logf("%s: binary %.1f MB", t.Name(), float64(st.Size())/1e6)
	}

	// The package's symbol names stay in a stripped binary (the runtime
	// needs them for tracebacks), which makes its absence checkable.
	const testdbPkg = "github.com/graceguard/graceguard/geo/testdb."
	contains := func(t *testing.T, bin, s string) bool {
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(data, []byte(s))
	}

	// The two builds are independent (each its own output; the go command
	// locks its cache itself): side by side, the test takes the longer
	// one's time, not the sum of both.
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		bin := build(t, "")
		checkStatic(t, bin)
		if contains(t, bin, testdbPkg) {
			t.Errorf("the default image's binary contains %s", strings.TrimSuffix(testdbPkg, "."))
		}
		info, _ := buildinfo.ReadFile(bin)
		for _, dep := range info.Deps {
			if strings.Contains(dep.Path, "mmdbwriter") {
				t.Errorf("the default image's binary links %s", dep.Path)
			}
		}
		// Without the databases, rules test explains its geo failures.
		cmd := exec.Command(bin, "rules", "test")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		_ = cmd.Run()
		if !strings.Contains(stderr.String(), "built without the demo GeoIP databases") {
			t.Errorf("rules test without the demo databases says:\n%s", stderr.String())
		}
	})
	t.Run("GEOIP_DEMO=1", func(t *testing.T) {
		t.Parallel()
		bin := build(t, "1")
		checkStatic(t, bin)
		// Proves the check above can see the package when it is there.
		if !contains(t, bin, testdbPkg) {
			t.Errorf("with GEOIP_DEMO=1 the binary lacks %s", strings.TrimSuffix(testdbPkg, "."))
		}
	})
}
