package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: a flag, the variable it falls back to,
// and a default that works.
type setting struct {
	flag    string
	env     string
	def     string
	usage   string
	value   string
	fromCLI bool
}

// settings binds flags to a FlagSet and resolves each value: the flag if
// given, else the variable, else the default.
type settings struct {
	fs     *flag.FlagSet
	getenv func(string) string
	list   []*setting
}

func newSettings(name, summary string, getenv func(string) string, stderr io.Writer) *settings {
	fs := flag.NewFlagSet("baton "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := &settings{fs: fs, getenv: getenv}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: baton %s\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
		if len(s.list) > 0 {
			fmt.Fprintln(stderr, "\nEach flag falls back to the variable named in its description, then to its default.")
		}
	}
	return s
}

// add declares a setting; env may be empty for flag-only settings.
func (s *settings) add(name, env, def, usage string) *setting {
	st := &setting{flag: name, env: env, def: def, usage: usage}
	s.list = append(s.list, st)
	help := usage
	if env != "" {
		help += " (env " + env + ")"
	}
	s.fs.Func(name, help+defaultNote(def), func(v string) error {
		st.value, st.fromCLI = v, true
		return nil
	})
	return st
}

func defaultNote(def string) string {
	if def == "" {
		return ""
	}
	return " (default " + strconv.Quote(def) + ")"
}

// parse reads args and fills every setting; it returns the positional
// arguments left over.
func (s *settings) parse(args []string) ([]string, error) {
	// Flags may come before or after positional arguments
	// (`baton user add NAME --role designer`), so parse repeatedly.
	var positional []string
	for {
		if err := s.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &exitError{code: 0}
			}
			return nil, &exitError{code: 2}
		}
		rest := s.fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	for _, st := range s.list {
		if st.fromCLI {
			continue
		}
		if st.env != "" {
			if v := s.getenv(st.env); v != "" {
				st.value = v
				continue
			}
		}
		st.value = st.def
	}
	return positional, nil
}

// list declares a repeatable flag; each use may also hold a comma-separated list.
func (s *settings) listFlag(name, usage string) *[]string {
	var vals []string
	s.fs.Func(name, usage, func(v string) error {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				vals = append(vals, part)
			}
		}
		return nil
	})
	return &vals
}

// name says where a setting's value came from, for error messages.
func (st *setting) name() string {
	if st.env != "" && !st.fromCLI {
		return "--" + st.flag + " / " + st.env
	}
	return "--" + st.flag
}

func (st *setting) duration() (time.Duration, error) {
	d, err := time.ParseDuration(st.value)
	if err != nil || d < 0 {
		return 0, usageError("%s: %q is not a duration such as 30s or 2m", st.name(), st.value)
	}
	return d, nil
}

func (st *setting) boolean() (bool, error) {
	b, err := strconv.ParseBool(st.value)
	if err != nil {
		return false, usageError("%s: %q is not true or false", st.name(), st.value)
	}
	return b, nil
}

// bytes reads a size such as 1048576, 512KiB, 1MiB or 2MB.
func (st *setting) bytes() (int, error) {
	v := strings.TrimSpace(st.value)
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := 1
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, usageError("%s: %q is not a size such as 1048576, 512KiB or 1MiB", st.name(), st.value)
	}
	return n * mult, nil
}

// dbSetting declares --db with the spec's fallbacks: BATON_DATABASE_URL, then
// DATABASE_URL, then SQLite in the data directory.
type dbSettings struct {
	db      *setting
	dataDir *setting
	getenv  func(string) string
}

func addDBSettings(s *settings) *dbSettings {
	return &dbSettings{
		db:      s.add("db", "BATON_DATABASE_URL", "", "database URL: sqlite:///abs/path.db, sqlite://rel/path.db or postgres://user:pass@host:5432/db (also reads DATABASE_URL)"),
		dataDir: s.add("data-dir", "BATON_DATA_DIR", "baton-data", "folder of the embedded SQLite database"),
		getenv:  s.getenv,
	}
}

// url resolves the database URL.
func (d *dbSettings) url() (string, error) {
	u := d.db.value
	if u == "" {
		u = d.getenv("DATABASE_URL")
	}
	if u == "" {
		if d.dataDir.value == "" {
			return "", usageError("%s: the data directory may not be empty", d.dataDir.name())
		}
		return "sqlite://" + filepath.ToSlash(filepath.Join(d.dataDir.value, "baton.db")), nil
	}
	switch {
	case strings.HasPrefix(u, "sqlite:"), strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return u, nil
	}
	return "", usageError("%s: %q is not a database URL (use sqlite:///abs/path.db, sqlite://rel/path.db or postgres://…)", d.db.name(), redactURL(u))
}

// redactURL hides a password in a URL before it is printed
// ((*url.URL).Redacted: "user:xxxxx@host"). A string that is not a URL is
// not printed at all, since it may hold a password where no parser looks.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not shown: it does not parse as a URL and may hold a password)"
	}
	return u.Redacted()
}

// newLogger builds the process logger: text for a terminal, JSON when asked.
func newLogger(w io.Writer, format, level *setting) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level.value)); err != nil {
		return nil, usageError("%s: %q is not a log level (debug, info, warn, error)", level.name(), level.value)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format.value {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("%s: %q is not a log format (text or json)", format.name(), format.value)
}
