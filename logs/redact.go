package logs

import (
	"log/slog"
	"regexp"
	"strings"
)

// redacted replaces a secret in the log.
const redacted = "[redacted]"

// secretKey reports whether an attribute key names a secret. A key naming
// a file (password_file) names where a secret is, which is not secret.
func secretKey(key string) bool {
	k := strings.ToLower(key)
	if strings.HasSuffix(k, "file") || strings.HasSuffix(k, "path") {
		return false
	}
	for _, s := range [...]string{"password", "passwd", "secret", "token", "credential", "private_key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// urlPassword matches the password of a URL's user info: scheme://user:PASSWORD@.
var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^@\s]*@`)

// RedactString hides the passwords of URLs in s (tls://user:pw@host
// becomes tls://user:[redacted]@host).
func RedactString(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	return urlPassword.ReplaceAllString(s, "${1}"+redacted+"@")
}

// Redact is a slog.HandlerOptions.ReplaceAttr function that keeps secrets
// out of the log: the value of an attribute whose key names a secret
// (password, secret, token...) is replaced, and so is the password of any
// URL in a string or error value. It is a second line of defence: code
// does not log secrets in the first place.
func Redact(_ []string, a slog.Attr) slog.Attr {
	if secretKey(a.Key) {
		if a.Value.Kind() == slog.KindString && a.Value.String() == "" {
			return a
		}
		return slog.String(a.Key, redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); RedactString(s) != s {
			return slog.String(a.Key, RedactString(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			if s := err.Error(); RedactString(s) != s {
				return slog.String(a.Key, RedactString(s))
			}
		}
	}
	return a
}
