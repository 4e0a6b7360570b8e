package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// cmdPrune deletes finished runs older than --older-than (or their
// template's own retention), as the housekeeping of `baton serve
// --retention` does, and prints what it deleted.
func cmdPrune(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("prune --older-than AGE [flags]",
		"Deletes finished runs that finished longer ago than AGE (90d, 12h, 2w), with their steps, events, timers\n"+
			"and signals, in transactions of 500 runs so the database is never locked for long. A template with its\n"+
			"own retention (its settings' \"retention\") keeps its runs for that long instead. A run whose parent run\n"+
			"is unfinished is kept, and so is every unfinished run. Prints the runs deleted per template; --dry-run\n"+
			"only counts them. Analytics figures are computed from the runs that remain.",
		e.getenv, e.stderr)
	olderThan := s.add("older-than", "", "", "delete runs that finished longer ago than this (90d, 12h, 2w); required")
	dryRun := s.fs.Bool("dry-run", false, "count what would be deleted, delete nothing")
	only := s.add("template", "", "", "prune this template's runs only")
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("prune takes no arguments, got %q", rest[0])
	}
	if olderThan.value == "" {
		return usageError("prune needs --older-than, e.g. --older-than 90d")
	}
	age, err := models.ParseRetention(olderThan.value)
	if err != nil {
		return usageError("--older-than: %v", err)
	}
	if age == 0 {
		return usageError("--older-than %s keeps every run: nothing to prune", olderThan.value)
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	start := time.Now()
	last := time.Now()
	stats, err := st.Prune(ctx, store.PruneOptions{OlderThan: age, Template: only.value, DryRun: *dryRun,
		Progress: func(tpl string, n int) {
			if time.Since(last) >= time.Second {
				last = time.Now()
				fmt.Fprintf(e.stderr, "%s: %s %d runs so far\n", tpl, verb, n)
			}
		}})
	keys := make([]string, 0, len(stats.ByTemplate))
	for k := range stats.ByTemplate {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "%s: %s %d runs\n", k, verb, stats.ByTemplate[k])
	}
	fmt.Fprintf(e.stdout, "%s %d runs that finished more than %s ago, in %s\n", verb, stats.Runs, models.FormatRetention(age), time.Since(start).Round(time.Millisecond))
	return err
}
