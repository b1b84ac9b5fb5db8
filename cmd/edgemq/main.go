// Command edgemq is an MQTT and MQTT-SN broker for edge gateways.
//
//	edgemq                    run with the embedded default config (loopback only)
//	edgemq -c FILE            run with FILE
//	edgemq check -c FILE      validate FILE: errors with line numbers, exit 1 on error
//	edgemq passwd FILE USER   add or replace a user of a password file
//	edgemq version            version, commit, platform, Go version
//	edgemq help               usage
//
// Exit codes: 0 success or clean shutdown, 1 error, 2 bad command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgemq/edgemq/config"
)

const usage = `Usage:
  edgemq [-c FILE]        run the broker; without -c, the embedded default
                          config (127.0.0.1:1883 only, anonymous, ./edgemq-data)
  edgemq check -c FILE    validate a config file and the files it names;
                          print each problem with its line, exit 1 if any
  edgemq passwd [-cost N] FILE USER
                          add or replace USER in the password file FILE
                          (bcrypt, cost 8 unless -cost); prompts on a
                          terminal, else reads one line from stdin
  edgemq version          print version, commit, platform and Go version
  edgemq help             print this help

Configuration keys: docs/config.md.
`

// runFunc runs the broker until ctx is cancelled; see run.go.
type runFunc func(ctx context.Context, cfg *config.Config, log *slog.Logger) error

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr, run))
}

// realMain dispatches the subcommands and returns the exit code.
func realMain(args []string, stdout, stderr io.Writer, run runFunc) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return cmdRun(args, stdout, stderr, run)
	}
	switch args[0] {
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "version":
		return cmdVersion(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(args[1:], os.Stdin, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	return usageError(stderr, fmt.Sprintf("unknown command %q", args[0]))
}

// usageError prints msg and the usage to stderr and returns exit code 2.
func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "edgemq: %s\n\n%s", msg, usage)
	return 2
}

// parseFlags parses the -c flag of a subcommand. It returns the file, and
// an exit code >= 0 when the command line was a request for help (0) or
// wrong (2).
func parseFlags(name string, args []string, stdout, stderr io.Writer) (file string, exit int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print our own usage
	fs.StringVar(&file, "c", "", "config file")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return "", 0
	case err != nil:
		return "", usageError(stderr, err.Error())
	case fs.NArg() > 0:
		return "", usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	return file, -1
}

// cmdRun implements "edgemq [-c FILE]": load the config, then run the
// broker until SIGINT or SIGTERM.
func cmdRun(args []string, stdout, stderr io.Writer, run runFunc) int {
	file, exit := parseFlags("edgemq", args, stdout, stderr)
	if exit >= 0 {
		return exit
	}
	cfg := config.Default()
	if file != "" {
		var err error
		if cfg, err = config.Load(file); err != nil {
			printError(stderr, err)
			return 1
		}
	}
	log := newLogger(cfg.Log, stderr)
	defer closeLogger(log)
	if file == "" {
		addrs := make([]string, len(cfg.Listeners))
		for i, l := range cfg.Listeners {
			addrs[i] = l.Address
		}
		log.Info("no config file given (-c FILE): running the embedded default, listening on loopback only",
			"listeners", strings.Join(addrs, ","), "data_dir", cfg.DataDir)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one kills the process the default
	// way, should the shutdown hang.
	context.AfterFunc(ctx, stop)

	if err := run(ctx, cfg, log); err != nil {
		fmt.Fprintf(stderr, "edgemq: %v\n", err)
		return 1
	}
	return 0
}

// printError prints a config error one problem per line, or any other
// error (such as a missing file) prefixed with "edgemq: ".
func printError(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintf(w, "edgemq: %v\n", err)
}
