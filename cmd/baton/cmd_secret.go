package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// stdin is where `baton secret set` reads the value; a variable so tests
// can feed it.
var stdin io.Reader = os.Stdin

func cmdSecret(ctx context.Context, e *env, args []string) error {
	const usage = "usage: baton secret set NAME [--description TEXT] (value on stdin) | baton secret list | baton secret delete NAME"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, usage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "set":
		return secretSet(ctx, e, args[1:])
	case "list":
		return secretList(ctx, e, args[1:])
	case "delete":
		return secretDelete(ctx, e, args[1:])
	}
	return usageError("unknown subcommand %q; %s", args[0], usage)
}

// openSecretStore opens the database with the server's secrets key, from
// the same settings `baton serve` reads.
func openSecretStore(ctx context.Context, e *env, dbs *dbSettings, key *setting) (*store.Store, error) {
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return nil, err
	}
	k, created, err := loadSecretsKey(key.value, dbs.dataDir.value)
	if err == nil && created {
		fmt.Fprintf(e.stderr, "created a secrets key file in %s; the server must use the same key\n", dbs.dataDir.value)
	}
	if err == nil {
		err = st.UseSecretsKey(k)
	}
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return st, nil
}

func addSecretsKey(s *settings) *setting {
	return s.add("secrets-key", "BATON_SECRETS_KEY", "", "the server's secrets key (base64 of 32 bytes); empty uses secrets.key in the data directory")
}

// nameArg splits a command's single NAME argument from its flags.
func nameArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func secretSet(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("secret set NAME [flags] < value", "Creates the secret NAME, or gives it a new value (rotation), reading the value from stdin; one trailing newline is dropped.", e.getenv, e.stderr)
	desc := s.add("description", "", "", "what the secret is for")
	dbs := addDBSettings(s)
	key := addSecretsKey(s)
	name, args := nameArg(args)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "" || len(rest) > 0 {
		return usageError("secret set takes one NAME and reads the value from stdin")
	}
	if err := models.CheckSecretName(name); err != nil {
		return usageError("%v", err)
	}
	b, err := io.ReadAll(io.LimitReader(stdin, models.MaxSecretValueLen+2))
	if err != nil {
		return fmt.Errorf("read the value from stdin: %w", err)
	}
	value := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if value == "" {
		return usageError("the value on stdin is empty (try: printf %%s \"$VALUE\" | baton secret set %s)", name)
	}
	st, err := openSecretStore(ctx, e, dbs, key)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	sec := &models.StoredSecret{Name: name, Description: desc.value}
	err = st.CreateSecret(ctx, sec, value, "cli", "")
	if models.IsCode(err, models.Conflict) {
		var d *string
		if desc.value != "" {
			d = &desc.value
		}
		if _, err = st.RotateSecret(ctx, name, value, d, "cli", ""); err == nil {
			fmt.Fprintf(e.stderr, "secret %s rotated\n", name)
		}
		return err
	}
	if err == nil {
		fmt.Fprintf(e.stderr, "secret %s created\n", name)
	}
	return err
}

func secretList(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("secret list [flags]", "Lists secrets: names, descriptions, who changed them last; never values.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	if _, err := s.parse(args); err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	after := ""
	for {
		page, err := st.ListSecrets(ctx, store.MaxSecretLimit, after)
		if err != nil {
			return err
		}
		for _, sec := range page {
			fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", sec.Name, sec.UpdatedAt.Format("2006-01-02 15:04:05Z"), sec.UpdatedBy, sec.Description)
		}
		if len(page) < store.MaxSecretLimit {
			return nil
		}
		after = page[len(page)-1].Name
	}
}

func secretDelete(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("secret delete NAME [flags]", "Deletes a secret; definitions that still name it fail validation.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	name, args := nameArg(args)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "" || len(rest) > 0 {
		return usageError("secret delete takes one NAME")
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if err := st.DeleteSecret(ctx, name, "cli", ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "secret %s deleted\n", name)
	return nil
}
