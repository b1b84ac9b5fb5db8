package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/edgemq/edgemq/auth"
)

// cmdPasswd implements "edgemq passwd [-cost N] FILE USER": it sets USER's
// password in the password file FILE (created with mode 0600 if absent;
// other lines are kept). On a terminal it prompts twice without echo;
// otherwise it reads one line from stdin, so that scripts can pipe the
// password in.
func cmdPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cost := fs.Int("cost", auth.DefaultCost, "bcrypt cost")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		return usageError(stderr, err.Error())
	case fs.NArg() != 2:
		return usageError(stderr, "passwd needs FILE and USER")
	case *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost:
		return usageError(stderr, fmt.Sprintf("-cost must be from %d to %d", bcrypt.MinCost, bcrypt.MaxCost))
	}
	file, user := fs.Arg(0), fs.Arg(1)
	if err := auth.CheckUser(user); err != nil {
		fmt.Fprintf(stderr, "edgemq: %v\n", err)
		return 1
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "edgemq: %v\n", err)
		return 1
	}
	replaced, err := auth.SetPassword(file, user, password, *cost)
	if err != nil {
		fmt.Fprintf(stderr, "edgemq: %s: %v\n", file, err)
		return 1
	}
	what := "added"
	if replaced {
		what = "updated"
	}
	fmt.Fprintf(stdout, "%s: user %q %s (a running edgemq reloads the file on SIGHUP)\n", file, user, what)
	return 0
}

// readPassword prompts on stderr and reads twice without echo when stdin
// is a terminal, else reads one line.
func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(stderr, "Reenter password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p1, p2) {
			return nil, errors.New("the passwords do not match")
		}
		return p1, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no password on standard input")
		}
		return nil, err
	}
	return []byte(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")), nil
}
