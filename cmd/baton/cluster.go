package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/models/store"
)

// clusterBus is a cluster.Bus that can be closed.
type clusterBus interface {
	cluster.Bus
	Close() error
}

type nopBus struct{ cluster.Nop }

func (nopBus) Close() error { return nil }

// joinCluster returns the bus of the instances sharing the database: LISTEN/
// NOTIFY on PostgreSQL, nothing on SQLite (one instance per file).
func joinCluster(ctx context.Context, st *store.Store, dbURL string, log *slog.Logger) (clusterBus, error) {
	if st.Dialect() != "postgres" {
		return nopBus{}, nil
	}
	bus, err := cluster.NewPostgres(ctx, dbURL, st.SQLDB(), log)
	if err != nil {
		return nil, fmt.Errorf("join the instances on %s: %w", redactURL(dbURL), err)
	}
	log.Info("listening for other instances", "channel", cluster.Channel, "instance", bus.Instance())
	return bus, nil
}
