package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of API tokens.

func exerciseTokens(t *testing.T, st *store.Store) {
	ctx := context.Background()
	ann := mustUser(t, st, "ann", models.RoleAdmin)
	bob := mustUser(t, st, "bob")
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

	wantErr(t, st.CreateToken(ctx, &models.APIToken{UserID: ann.ID}), models.Invalid, "token without hash")
	wantErr(t, st.CreateToken(ctx, &models.APIToken{UserID: 424242, Hash: "orphan"}), models.NotFound, "token of unknown user")

	var toks []*models.APIToken
	for i := range 3 {
		tok := &models.APIToken{UserID: ann.ID, Name: fmt.Sprintf("t%d", i), Hash: fmt.Sprintf("hash-%d", i), Prefix: "bt_", CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		must(t, st.CreateToken(ctx, tok), "create token")
		if tok.ID == 0 {
			t.Fatal("CreateToken did not set ID")
		}
		toks = append(toks, tok)
	}
	// Same creation time: the later id still sorts first.
	same := &models.APIToken{UserID: ann.ID, Name: "same", Hash: "hash-same", CreatedAt: t0.Add(2 * time.Minute)}
	must(t, st.CreateToken(ctx, same), "create token")
	must(t, st.CreateToken(ctx, &models.APIToken{UserID: bob.ID, Name: "bobs", Hash: "hash-bob"}), "create bob's token")
	wantErr(t, st.CreateToken(ctx, &models.APIToken{UserID: bob.ID, Hash: "hash-1"}), models.Conflict, "duplicate hash")
	now := &models.APIToken{UserID: bob.ID, Hash: "hash-now"}
	must(t, st.CreateToken(ctx, now), "token with zero CreatedAt")
	if now.CreatedAt.IsZero() {
		t.Error("CreateToken left a zero CreatedAt")
	}

	tok, user, err := st.TokenByHash(ctx, "hash-1")
	must(t, err, "token by hash")
	if tok.ID != toks[1].ID || tok.Name != "t1" || tok.Prefix != "bt_" || tok.CreatedAt != toks[1].CreatedAt || tok.LastUsedAt != nil || tok.RevokedAt != nil {
		t.Errorf("TokenByHash = %+v, want %+v", tok, toks[1])
	}
	if user == nil || !reflect.DeepEqual(user, ann) {
		t.Errorf("TokenByHash user = %+v, want %+v", user, ann)
	}
	_, _, err = st.TokenByHash(ctx, "no-such-hash")
	wantErr(t, err, models.NotFound, "unknown hash")

	used := t0.Add(time.Hour)
	must(t, st.TouchToken(ctx, tok.ID, used), "touch")
	wantErr(t, st.TouchToken(ctx, 424242, used), models.NotFound, "touch unknown token")
	tok, _, err = st.TokenByHash(ctx, "hash-1")
	must(t, err, "token by hash after touch")
	if tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt = %v, want %v", tok.LastUsedAt, used)
	}

	revoked := t0.Add(2 * time.Hour)
	must(t, st.RevokeToken(ctx, tok.ID, revoked), "revoke")
	_, _, err = st.TokenByHash(ctx, "hash-1")
	wantErr(t, err, models.NotFound, "revoked token by hash")
	must(t, st.RevokeToken(ctx, tok.ID, revoked.Add(time.Hour)), "revoke again")
	wantErr(t, st.RevokeToken(ctx, 424242, revoked), models.NotFound, "revoke unknown token")
	byID, err := st.TokenByID(ctx, tok.ID)
	must(t, err, "revoked token by id")
	if byID.RevokedAt == nil || !byID.RevokedAt.Equal(revoked) {
		t.Errorf("RevokedAt = %v, want the first revocation %v", byID.RevokedAt, revoked)
	}
	_, err = st.TokenByID(ctx, 424242)
	wantErr(t, err, models.NotFound, "unknown token id")

	list, err := st.ListTokens(ctx, ann.ID)
	must(t, err, "list tokens")
	var names []string
	for _, l := range list {
		names = append(names, l.Name)
		if l.UserID != ann.ID {
			t.Errorf("ListTokens(ann) returned a token of user %d", l.UserID)
		}
	}
	if want := []string{"same", "t2", "t1", "t0"}; !slices.Equal(names, want) {
		t.Errorf("ListTokens(ann) names = %v, want %v (newest first, revoked included)", names, want)
	}
	list, err = st.ListTokens(ctx, 424242)
	must(t, err, "list tokens of nobody")
	if len(list) != 0 {
		t.Errorf("ListTokens(unknown user) = %v, want none", list)
	}
}
