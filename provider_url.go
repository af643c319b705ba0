package gormkit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// target is a parsed connection URL: the dialect, the DSN its driver wants,
// a redacted form for messages, and the password to scrub from driver errors.
type target struct {
	dialect  Dialect
	dsn      string
	redacted string
	password string
	// querySecrets are password values given as query parameters, also
	// scrubbed from driver errors.
	querySecrets []string
	// sqlite only
	sqlitePath   string
	sqliteMemory bool
	sqliteQuery  url.Values
}

// inferDialect maps a URL scheme to a dialect; an empty scheme or a path
// means SQLite.
func inferDialect(raw string) (Dialect, error) {
	lower := strings.ToLower(raw)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, nil
	case strings.HasPrefix(lower, "mysql://"), strings.HasPrefix(lower, "mariadb://"):
		return MySQL, nil
	case strings.HasPrefix(lower, "libsql:"), strings.HasPrefix(lower, "http:"), strings.HasPrefix(lower, "https:"),
		strings.HasPrefix(lower, "ws:"), strings.HasPrefix(lower, "wss:"):
		return "", fmt.Errorf("remote libSQL/Turso URLs are not supported; use a local SQLite file (file:app.db), PostgreSQL or MySQL")
	case strings.HasPrefix(lower, "file:"), strings.HasPrefix(lower, "sqlite:"), lower == ":memory:":
		return SQLite, nil
	}
	if i := strings.Index(raw, "://"); i > 0 {
		return "", fmt.Errorf("unknown URL scheme %q (want postgres://, mysql://, file: or sqlite:)", redactString(raw[:i]))
	}
	if raw == "" {
		return "", fmt.Errorf("URL is empty")
	}
	return SQLite, nil
}

// parseTarget parses raw for dialect d. Errors never contain the password.
func parseTarget(raw string, d Dialect) (*target, error) {
	switch d {
	case SQLite:
		return parseSQLite(raw)
	case Postgres:
		return parsePostgres(raw)
	case MySQL:
		return parseMySQL(raw)
	}
	return nil, fmt.Errorf("unknown dialect %q (want sqlite, postgres or mysql)", d)
}

func parseSQLite(raw string) (*target, error) {
	rest := raw
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if len(rest) >= len(prefix) && strings.EqualFold(rest[:len(prefix)], prefix) {
			rest = rest[len(prefix):]
			break
		}
	}
	path, rawQuery, _ := strings.Cut(rest, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("invalid SQLite query parameters: %v", err)
	}
	memory := path == ":memory:" || path == "" || query.Get("mode") == "memory"
	if path == "" && rawQuery == "" {
		return nil, fmt.Errorf("SQLite URL has no path (use file:app.db or :memory:)")
	}
	pw := mistakenPassword(rest)
	return &target{dialect: SQLite, redacted: scrub(raw, pw), password: pw, sqlitePath: path, sqliteMemory: memory, sqliteQuery: query}, nil
}

// mistakenPassword returns what would be the password if a server URL that
// lost its scheme ("user:pw@host/db", "postgres//user:pw@host") was taken
// for a SQLite path, so that messages about the path do not print it.
// SQLite itself has no credentials.
func mistakenPassword(rest string) string {
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	userinfo := rest[:at]
	// Skip what is left of a scheme ("postgres//") before the user name.
	if i := strings.Index(userinfo, "//"); i >= 0 && !strings.Contains(userinfo[:i], ":") {
		userinfo = userinfo[i+2:]
	}
	_, pw, _ := strings.Cut(userinfo, ":")
	return pw
}

func parsePostgres(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL URL: %s", urlParseReason(err))
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("PostgreSQL URL must start with postgres:// or postgresql://")
	}
	if err := checkUserinfoEnd(raw); err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL URL: %w", err)
	}
	pw, _ := u.User.Password()
	redacted, secrets := redactURL(u)
	return &target{dialect: Postgres, dsn: raw, redacted: redacted, password: pw, querySecrets: secrets}, nil
}

// redactURL returns u with its user password and the values of its
// password query parameters (libpq's and pgx's password and sslpassword,
// in any case) masked, and those values, unescaped, for scrubbing.
func redactURL(u *url.URL) (string, []string) {
	if u.RawQuery == "" {
		return u.Redacted(), nil
	}
	var secrets []string
	pairs := strings.Split(u.RawQuery, "&")
	for i, pair := range pairs {
		k, v, ok := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if !ok || v == "" || (!strings.EqualFold(name, "password") && !strings.EqualFold(name, "sslpassword")) {
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		secrets = append(secrets, v)
		pairs[i] = k + "=xxxxx"
	}
	c := *u
	c.RawQuery = strings.Join(pairs, "&")
	return c.Redacted(), secrets
}

// parseMySQL converts mysql://user:pass@host:port/db?params into a
// go-sql-driver/mysql DSN with parseTime, UTC and utf8mb4 forced.
func parseMySQL(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid MySQL URL: %s", urlParseReason(err))
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return nil, fmt.Errorf("MySQL URL must start with mysql://")
	}
	if err := checkUserinfoEnd(raw); err != nil {
		return nil, fmt.Errorf("invalid MySQL URL: %w", err)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fmt.Errorf("MySQL URL has no host")
	}
	if port == "" {
		port = "3306"
	} else if _, err := strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("MySQL URL has an invalid port")
	}
	cfg.Addr = net.JoinHostPort(host, port)
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Collation = "utf8mb4_unicode_ci"
	cfg.Params = map[string]string{}
	for k, vs := range u.Query() {
		if len(vs) == 0 {
			continue
		}
		if err := applyMySQLParam(cfg, k, vs[len(vs)-1]); err != nil {
			return nil, err
		}
	}
	if _, ok := cfg.Params["charset"]; !ok {
		cfg.Params["charset"] = "utf8mb4"
	}
	redacted, secrets := redactURL(u)
	return &target{dialect: MySQL, dsn: cfg.FormatDSN(), redacted: redacted, password: cfg.Passwd, querySecrets: secrets}, nil
}

// applyMySQLParam maps the few driver options users set in a URL; any other
// parameter is sent to the server as a session variable, as the driver does.
func applyMySQLParam(cfg *mysql.Config, k, v string) error {
	boolParam := func(dst *bool) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("MySQL URL parameter %s must be true or false", k)
		}
		*dst = b
		return nil
	}
	durationParam := func(dst *time.Duration) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("MySQL URL parameter %s must be a duration such as 5s", k)
		}
		*dst = d
		return nil
	}
	switch k {
	case "password":
		// Like libpq's ?password=; never forwarded as a session variable.
		cfg.Passwd = v
	case "parseTime", "loc":
		return nil // always true / UTC: gormkit stores UTC times
	case "tls":
		cfg.TLSConfig = v
	case "interpolateParams":
		return boolParam(&cfg.InterpolateParams)
	case "timeout":
		return durationParam(&cfg.Timeout)
	case "readTimeout":
		return durationParam(&cfg.ReadTimeout)
	case "writeTimeout":
		return durationParam(&cfg.WriteTimeout)
	case "collation":
		cfg.Collation = v
	case "multiStatements":
		return boolParam(&cfg.MultiStatements)
	default:
		cfg.Params[k] = v
	}
	return nil
}

// urlParseReason says why url.Parse rejected a URL without quoting the URL
// or any part of it: the quoted part may be a piece of a password that the
// parser split in the wrong place (e.g. at an unescaped '/' or '#'), escaped
// so that scrubbing would not find it.
func urlParseReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg, _, _ := strings.Cut(err.Error(), `"`)
	msg = strings.TrimSpace(strings.TrimPrefix(msg, "net/url: "))
	return msg + " (percent-encode special characters in the user name and password)"
}

// checkUserinfoEnd rejects a URL with an '@' after its host. The host ends
// at the first '/', '?' or '#', so a password holding one of those unescaped
// followed by '@' is cut there: the driver would log in with the wrong
// password and the password's tail would show as the path, query or
// fragment in messages.
func checkUserinfoEnd(raw string) error {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	if end := strings.IndexAny(rest, "/?#"); end >= 0 && strings.Contains(rest[end:], "@") {
		return errors.New("'@' after the host (percent-encode '@', '/', '?' and '#' in the user name and password)")
	}
	return nil
}

func passwordOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		pw, _ := u.User.Password()
		return pw
	}
	// An unparsable URL: take what sits between the first ':' after the
	// scheme and the last '@', which is where a password would be.
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	if colon := strings.Index(rest[:at], ":"); colon >= 0 {
		return rest[colon+1 : at]
	}
	return ""
}

// scrubAll scrubs t's password and query secrets from s.
func (t *target) scrubAll(s string) string {
	s = scrub(s, t.password)
	for _, secret := range t.querySecrets {
		s = scrub(s, secret)
	}
	return s
}

// scrub replaces every occurrence of secret in s.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, secret, "xxxxx")
	if esc := url.QueryEscape(secret); esc != secret {
		s = strings.ReplaceAll(s, esc, "xxxxx")
	}
	if esc := url.PathEscape(secret); esc != secret {
		s = strings.ReplaceAll(s, esc, "xxxxx")
	}
	return s
}

// redactString removes a password from anything that looks like a URL.
func redactString(raw string) string {
	return scrub(raw, passwordOf(raw))
}
