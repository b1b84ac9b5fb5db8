package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/config"
	"github.com/edgemq/edgemq/internal/testpki"
)

// buildEdgemq builds the real binary, with a version and commit set the way
// release builds set them.
func buildEdgemq(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgemq")
	cmd := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X main.version=1.2.3-test -X main.commit=abc1234", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// execEdgemq runs the binary and returns its stdout, stderr and exit code.
func execEdgemq(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBinary runs the built edgemq as a real process.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildEdgemq(t)
	dir := t.TempDir()
	pair := testpki.NewCA(t, dir, "ca").Server(t, "server")
	cert, key := pair.CertFile, pair.KeyFile
	good := writeFile(t, dir, "good.yaml", `listeners:
  - {type: tcp, address: "127.0.0.1:1883"}
  - {type: tls, address: "127.0.0.1:8883", cert_file: "`+cert+`", key_file: "`+key+`"}
log: {level: debug, format: json}
`)
	bad := writeFile(t, dir, "bad.yaml", `storage:
  engine: rocks
listeners:
  - {type: tcp, address: "127.0.0.1:1883"}
  - type: tcp
    address: "0.0.0.0"
lmits: {}
`)
	missing := writeFile(t, dir, "missing.yaml", `listeners:
  - type: tls
    address: ":8883"
    cert_file: "`+cert+`"
    key_file: "`+filepath.Join(dir, "nope.key")+`"
`)

	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // exact, unless a regexp in the *Re fields
		stderrRe       string
	}{
		{name: "check good", args: []string{"check", "-c", good}, code: 0, stdout: good + ": ok\n"},
		{name: "check bad", args: []string{"check", "-c", bad}, code: 1, stderr: bad + `:2:3: storage.engine: must be one of auto, badger, bolt; got "rocks"` + "\n" +
			bad + `:6:5: listeners[1].address: missing port in "0.0.0.0"` + "\n" +
			bad + `:7:1: lmits: unknown key (did you mean "limits"?)` + "\n"},
		{name: "check missing key file", args: []string{"check", "-c", missing}, code: 1,
			stderr: missing + `:5:5: listeners[0].key_file: cannot read "` + filepath.Join(dir, "nope.key") + `": no such file or directory` + "\n"},
		{name: "check missing config", args: []string{"check", "-c", filepath.Join(dir, "absent.yaml")}, code: 1,
			stderr: "edgemq: open " + filepath.Join(dir, "absent.yaml") + ": no such file or directory\n"},
		{name: "check without -c", args: []string{"check"}, code: 2, stderrRe: `^edgemq: check needs -c FILE\n\nUsage:`},
		{name: "check extra argument", args: []string{"check", "-c", good, "x"}, code: 2, stderrRe: `^edgemq: unexpected argument "x"\n\nUsage:`},
		{name: "run with a bad config", args: []string{"-c", bad}, code: 1, stderrRe: `^` + regexp.QuoteMeta(bad) + `:2:3: storage.engine: must be one of`},
		{name: "unknown command", args: []string{"serve"}, code: 2, stderrRe: `^edgemq: unknown command "serve"\n\nUsage:`},
		{name: "unknown flag", args: []string{"-x"}, code: 2, stderrRe: `^edgemq: flag provided but not defined: -x\n\nUsage:`},
		{name: "unknown check flag", args: []string{"check", "--file", good}, code: 2, stderrRe: `^edgemq: flag provided but not defined: -file\n`},
		{name: "help", args: []string{"help"}, code: 0, stdout: usage},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: usage},
		{name: "check -h", args: []string{"check", "-h"}, code: 0, stdout: usage},
		{name: "version", args: []string{"version"}, code: 0, stdout: "edgemq 1.2.3-test\ncommit: abc1234\nplatform: " +
			runtime.GOOS + "/" + runtime.GOARCH + "@\ngo: " + runtime.Version() + "\n"},
		{name: "version with argument", args: []string{"version", "x"}, code: 2, stderrRe: `^edgemq: version takes no arguments\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := execEdgemq(t, bin, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			// "@" in a wanted stdout stands for the optional GOAMD64=... suffix.
			if before, after, ok := strings.Cut(tt.stdout, "@"); ok {
				re := "^" + regexp.QuoteMeta(before) + `( GO[A-Z0-9]+=\S+)*` + regexp.QuoteMeta(after) + "$"
				if !regexp.MustCompile(re).MatchString(stdout) {
					t.Errorf("stdout:\n%s\nwant to match\n%s", stdout, re)
				}
			} else if stdout != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.stdout)
			}
			if tt.stderrRe != "" {
				if !regexp.MustCompile(tt.stderrRe).MatchString(stderr) {
					t.Errorf("stderr:\n%s\nwant to match %q", stderr, tt.stderrRe)
				}
			} else if stderr != tt.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, tt.stderr)
			}
		})
	}
}

// TestSignalStopsRun delivers real signals to this process while run is
// running, and checks that they cancel its context and give exit code 0.
func TestSignalStopsRun(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			fake := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
				if err := syscall.Kill(os.Getpid(), sig); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(10 * time.Second):
					return errors.New("context not cancelled by the signal")
				}
			}
			if code := realMain(nil, &stdout, &stderr, fake); code != 0 {
				t.Errorf("exit code %d, want 0; stderr: %s", code, stderr.String())
			}
		})
	}
}

func TestRunErrorExitsOne(t *testing.T) {
	var stdout, stderr bytes.Buffer
	fake := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
		return errors.New("listen tcp 127.0.0.1:1883: bind: address already in use")
	}
	if code := realMain(nil, &stdout, &stderr, fake); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := stderr.String(); !strings.HasSuffix(got, "edgemq: listen tcp 127.0.0.1:1883: bind: address already in use\n") {
		t.Errorf("stderr: %q", got)
	}
}

func TestNoConfigRunsDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	var got *config.Config
	fake := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
		got = cfg
		return nil
	}
	if code := realMain(nil, &stdout, &stderr, fake); code != 0 {
		t.Fatalf("exit code %d; stderr: %s", code, stderr.String())
	}
	if !reflect.DeepEqual(got, config.Default()) {
		t.Errorf("run got %+v, want config.Default()", got)
	}
	if !strings.Contains(stderr.String(), "loopback only") || !strings.Contains(stderr.String(), "listeners=127.0.0.1:1883") {
		t.Errorf("the log does not say the default listens on loopback only: %s", stderr.String())
	}
}

func TestConfigFileReachesRun(t *testing.T) {
	path := writeFile(t, t.TempDir(), "e.yaml", "data_dir: \"\"\nlog: {level: warn}\n")
	var stdout, stderr bytes.Buffer
	var got *config.Config
	fake := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
		got = cfg
		log.Info("hidden")
		log.Warn("shown")
		return nil
	}
	if code := realMain([]string{"-c", path}, &stdout, &stderr, fake); code != 0 {
		t.Fatalf("exit code %d; stderr: %s", code, stderr.String())
	}
	if got == nil || got.DataDir != "" || got.Log.Level != config.LogWarn {
		t.Errorf("run got %+v", got)
	}
	if s := stderr.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "level=WARN msg=shown") {
		t.Errorf("log at warn level: %q", s)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(config.Log{Level: config.LogDebug, Format: config.LogJSON}, &buf)
	log.Debug("hello", "client", "c1")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if rec["level"] != "DEBUG" || rec["msg"] != "hello" || rec["client"] != "c1" {
		t.Errorf("record %v", rec)
	}

	buf.Reset()
	log = newLogger(config.Log{Level: config.LogError, Format: config.LogText}, &buf)
	log.Warn("dropped")
	log.Error("kept")
	if s := buf.String(); strings.Contains(s, "dropped") || !strings.Contains(s, "level=ERROR msg=kept") {
		t.Errorf("text log at error level: %q", s)
	}
}

// TestVersionFromBuildInfo checks the output when no -X flags were given:
// the test binary has none.
func TestVersionFromBuildInfo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := cmdVersion(nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	re := regexp.MustCompile(`^edgemq \S+\ncommit: \S+\nplatform: ` + runtime.GOOS + "/" + runtime.GOARCH +
		`( GO[A-Z0-9]+=\S+)*\ngo: ` + regexp.QuoteMeta(runtime.Version()) + "\n$")
	if !re.MatchString(stdout.String()) {
		t.Errorf("version output:\n%s", stdout.String())
	}
}
