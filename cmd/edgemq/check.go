package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/edgemq/edgemq/config"
)

// cmdCheck implements "edgemq check -c FILE": it validates the config and
// that every file it names can be opened for reading, prints each problem
// on its own line to stderr and returns 1, or prints "FILE: ok" and
// returns 0.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	file, exit := parseFlags("check", args, stdout, stderr)
	if exit >= 0 {
		return exit
	}
	if file == "" {
		return usageError(stderr, "check needs -c FILE")
	}
	cfg, err := config.Load(file)
	if err != nil {
		printError(stderr, err)
		return 1
	}
	if errs := checkFiles(cfg); len(errs) > 0 {
		printError(stderr, errs)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return 0
}

// checkFiles reports each file named by cfg that cannot be read, or whose
// contents the package that owns it refuses (see fileProblem), at its key
// and line.
func checkFiles(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, ref := range cfg.Files() {
		if msg := fileProblem(cfg, ref); msg != "" {
			errs = append(errs, cfg.ErrorAt(ref.Key, msg))
		}
	}
	return errs
}

// readable returns why path cannot be read as a file, or "".
func readable(path string) string {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err.Error()
		}
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return "not a regular file"
	}
	return ""
}
