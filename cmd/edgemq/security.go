package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/edgemq/edgemq/auth"
	"github.com/edgemq/edgemq/broker"
	"github.com/edgemq/edgemq/config"
)

// newSecurity builds the broker's Authenticator and Authorizer from the
// auth section and the listeners with username_from_cn, and registers
// their reload steps. A nil Authenticator lets everyone in (anonymous
// allowed, no password file, no certificate usernames: nothing to check);
// a nil Authorizer allows everything (no ACL file).
func newSecurity(cfg *config.Config, log *slog.Logger, rl *reloader) (broker.Authenticator, broker.Authorizer, error) {
	a := cfg.Auth
	var fromCN []string
	for _, l := range cfg.Listeners {
		if l.UsernameFromCN {
			fromCN = append(fromCN, l.Name)
		}
	}
	var authn broker.Authenticator
	if !a.AllowAnonymous || a.PasswordFile != "" || len(fromCN) > 0 {
		an, err := auth.NewAuthenticator(auth.Options{
			AllowAnonymous: a.AllowAnonymous,
			PasswordFile:   a.PasswordFile,
			UsernameFromCN: fromCN,
			AnonymousOn: func(listener string) bool {
				return cfg.MQTTSN.AllowAnonymous && strings.HasPrefix(listener, "mqttsn")
			},
			MaxFailures: a.FailLimit.MaxFailures,
			Window:      a.FailLimit.Window,
			Logger:      log,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("auth.password_file: %w", err)
		}
		if a.PasswordFile != "" {
			rl.add("auth.password_file", func() error {
				if err := an.Reload(); err != nil {
					return err
				}
				log.Info("password file loaded", "file", a.PasswordFile, "users", an.Users())
				return nil
			})
		}
		log.Info("authentication", "allow_anonymous", a.AllowAnonymous, "password_file", a.PasswordFile,
			"users", an.Users(), "username_from_cn", fromCN,
			"auth_fail_limit", fmt.Sprintf("%d in %v", a.FailLimit.MaxFailures, a.FailLimit.Window))
		authn = an
	} else {
		log.Warn("anonymous access: any client may connect (auth.allow_anonymous is true, no password_file)")
	}
	var authz broker.Authorizer
	if a.ACLFile != "" {
		acl, err := auth.LoadACL(a.ACLFile)
		if err != nil {
			return nil, nil, fmt.Errorf("auth.acl_file: %w", err)
		}
		rl.add("auth.acl_file", func() error {
			if err := acl.Reload(); err != nil {
				return err
			}
			log.Info("ACL loaded", "file", a.ACLFile, "rules", acl.Rules())
			return nil
		})
		log.Info("ACL loaded", "file", a.ACLFile, "rules", acl.Rules())
		authz = acl
	}
	return authn, authz, nil
}
