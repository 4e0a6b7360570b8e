package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) versionRoutes() []route {
	return []route{
		{fiber.MethodPut, "/api/v1/templates/:key/draft", models.RoleDesigner, s.saveDraft},
		{fiber.MethodGet, "/api/v1/templates/:key/versions", models.RoleViewer, s.listVersions},
		{fiber.MethodGet, "/api/v1/templates/:key/versions/:n", models.RoleViewer, s.getVersion},
		{fiber.MethodDelete, "/api/v1/templates/:key/versions/:n", models.RoleDesigner, s.discardDraft},
		{fiber.MethodGet, "/api/v1/templates/:key/versions/:n/events", models.RoleViewer, s.versionEvents},
		{fiber.MethodPost, "/api/v1/templates/:key/versions/:n/restore", models.RoleDesigner, s.restoreVersion},
		{fiber.MethodGet, "/api/v1/templates/:key/versions/:a/diff/:b", models.RoleViewer, s.diffVersions},
		{fiber.MethodGet, "/api/v1/templates/:key/versions/:n/evidence", models.RoleViewer, s.versionEvidence},
	}
}

// Evidence replays the newest finished production runs of a template
// through one of its versions, executing nothing, and says what would
// change (see engine/evidence).
type Evidence interface {
	// Evidence replays runs (0: the default, 50) runs through version n.
	Evidence(ctx context.Context, template string, n, runs int) (*models.Evidence, error)
	// Submitted queues the replay of a version just submitted; then gets
	// the answer (nil if it failed). False when the queue is full.
	Submitted(template string, n int, then func(*models.Evidence)) bool
}

func (s *server) evidence() (Evidence, error) {
	if s.deps.Evidence == nil {
		return nil, models.Errorf(models.Unavailable, "evidence is not available in this server")
	}
	return s.deps.Evidence, nil
}

// versionEvidence is GET …/versions/{n}/evidence?runs=K.
func (s *server) versionEvidence(c *fiber.Ctx) error {
	ev, err := s.evidence()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	runs := 0
	if raw := c.Query("runs"); raw != "" {
		runs, err = strconv.Atoi(raw)
		if err != nil || runs < 1 || runs > 500 {
			return models.Errorf(models.BadRequest, "runs must be a whole number from 1 to 500, not %q", raw)
		}
	}
	out, err := ev.Evidence(c.UserContext(), c.Params("key"), n, runs)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// versionList is GET …/versions: newest first.
type versionList struct {
	Versions []models.VersionSummary `json:"versions"`
}

// versionDiff is GET …/versions/{a}/diff/{b}.
type versionDiff struct {
	From int `json:"from"`
	To   int `json:"to"`
	models.DefinitionDiff
}

// versionNumber parses a version number path parameter.
func versionNumber(c *fiber.Ctx, name string) (int, error) {
	raw := c.Params(name)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, models.Errorf(models.BadRequest, "the version number must be a positive whole number, not %q", raw)
	}
	return n, nil
}

func (s *server) saveDraft(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	def, err := s.definitionBody(c)
	if err != nil {
		return err
	}
	v, err := ts.SaveDraft(c.UserContext(), c.Params("key"), def, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *server) listVersions(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	vs, err := ts.ListVersions(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []models.VersionSummary{}
	}
	return c.JSON(versionList{Versions: vs})
}

func (s *server) getVersion(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	v, err := ts.VersionDetail(c.UserContext(), c.Params("key"), n)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *server) versionEvents(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	evs, err := ts.VersionEvents(c.UserContext(), c.Params("key"), n)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []models.VersionEvent{}
	}
	return c.JSON(versionEventList{Events: evs})
}

func (s *server) restoreVersion(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	v, err := ts.RestoreVersion(c.UserContext(), c.Params("key"), n, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(v)
}

// DraftDiscarder deletes an open draft that followed a submitted version,
// respecting the designer's lock on it; *store.Store satisfies it. The
// server uses it when Deps.Templates implements it.
type DraftDiscarder interface {
	DiscardDraft(ctx context.Context, key string, n int, actor string, guard models.LockGuard) error
}

// headerDraftLock carries the caller's draft-lock token (the designer tab's
// id) on requests that must respect the lock.
const headerDraftLock = "X-Baton-Draft-Lock"

// discardDraft is DELETE …/versions/{n}: the designer's "Discard my
// changes" when the editing session began on a submitted version, so the
// draft its first save opened does not outlive the experiment. Only an
// open draft after another version can go (409 otherwise). While a tab
// holds the draft's lock, only that tab (its token in X-Baton-Draft-Lock)
// may discard it; anyone else gets 409 naming the holder, unless they pass
// ?force=true and are the draft's author, the lock's holder or an admin.
func (s *server) discardDraft(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	dd, ok := ts.(DraftDiscarder)
	if !ok {
		return models.Errorf(models.Unavailable, "discarding drafts is not available in this server")
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	force, err := boolQuery(c, "force")
	if err != nil {
		return err
	}
	token := c.Get(headerDraftLock)
	if len(token) > 100 {
		return models.Errorf(models.BadRequest, "the %s header is a lock token of at most 100 characters", headerDraftLock)
	}
	user := principalOf(c).user
	guard := models.LockGuard{Token: token, Force: force, Admin: user.Can(models.RoleAdmin), At: s.now()}
	if err := dd.DiscardDraft(c.UserContext(), c.Params("key"), n, user.Name, guard); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// boolQuery reads an optional true/false query parameter (absent: false).
func boolQuery(c *fiber.Ctx, name string) (bool, error) {
	raw := c.Query(name)
	if raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, models.Errorf(models.BadRequest, "%s must be true or false, not %q", name, raw)
	}
	return v, nil
}

func (s *server) diffVersions(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	rs, err := s.runs()
	if err != nil {
		return err
	}
	a, err := versionNumber(c, "a")
	if err != nil {
		return err
	}
	b, err := versionNumber(c, "b")
	if err != nil {
		return err
	}
	ctx, key := c.UserContext(), c.Params("key")
	va, err := ts.TemplateVersion(ctx, key, a)
	if err != nil {
		return err
	}
	vb, err := ts.TemplateVersion(ctx, key, b)
	if err != nil {
		return err
	}
	return c.JSON(versionDiff{From: a, To: b, DefinitionDiff: rs.Diff(va.Definition, vb.Definition)})
}
