package handlers

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/static"
	"github.com/baton-run/baton/views"
)

func (s *server) staticRoutes() []route {
	return []route{
		{fiber.MethodGet, "/static/*", anyone, s.serveStatic},
	}
}

// asset is one embedded file, read and hashed once at start-up.
type asset struct {
	body        []byte
	gzipped     []byte // body gzip-compressed once at start-up; nil when that does not pay
	contentType string
	version     string // the first 16 hex digits of the SHA-256 of body
	etag        string
}

// assets are the embedded files and the fingerprinted URLs the layout uses.
type assets struct {
	files map[string]*asset
	urls  views.Assets
}

// immutable is the Cache-Control of a URL that carries the file's hash: the
// content at that URL can never change.
const immutable = "public, max-age=31536000, immutable"

func loadAssets(log *slog.Logger) *assets {
	a := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(static.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(name, ".go") {
			return err
		}
		body, err := fs.ReadFile(static.FS, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		version := hex.EncodeToString(sum[:])[:16]
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = fiber.MIMEOctetStream
		}
		a.files[name] = &asset{body: body, gzipped: gzipOf(body, ct), contentType: ct, version: version, etag: `"` + version + `"`}
		return nil
	})
	if err != nil {
		// The files are compiled in; failing to read them means a broken build.
		log.Error("load embedded assets", "err", err)
	}
	a.urls = views.Assets{
		CSS:  a.url("app.css"),
		Icon: a.url("favicon.svg"),
		HTMX: a.url("vendor/htmx.min.js"),
		SSE:  a.url("vendor/htmx-ext-sse.min.js"),
		JS:   a.url("app.js"),
	}
	return a
}

// url is the fingerprinted URL of an embedded file.
func (a *assets) url(name string) string {
	f, ok := a.files[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.version
}

// serveStatic answers with an embedded file. With ?v=<its hash> the answer
// may be cached forever; without, browsers revalidate with the ETag. A
// lazily loaded chunk (chunks/, imported by designer.js with a relative
// URL) carries its content's hash in its name, so it is cached forever too.
func (s *server) serveStatic(c *fiber.Ctx) error {
	name := c.Params("*")
	f, ok := s.assets.files[name]
	if !ok {
		return models.Errorf(models.NotFound, "no such file")
	}
	c.Set(fiber.HeaderETag, f.etag)
	if c.Query("v") == f.version || strings.HasPrefix(name, "chunks/") {
		c.Set(fiber.HeaderCacheControl, immutable)
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), f.etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, f.contentType)
	if f.gzipped != nil {
		c.Vary(fiber.HeaderAcceptEncoding)
		if c.Context().Request.Header.HasAcceptEncoding("gzip") {
			c.Set(fiber.HeaderContentEncoding, "gzip")
			return c.Send(f.gzipped)
		}
	}
	return c.Send(f.body)
}

// gzipOf compresses a text asset (JS, CSS, SVG, HTML, JSON) once, at the
// best level, so no request pays for it; nil for other types, small files
// and anything compression does not shrink by a tenth.
func gzipOf(body []byte, contentType string) []byte {
	text := strings.HasPrefix(contentType, "text/") || strings.Contains(contentType, "javascript") ||
		strings.Contains(contentType, "json") || strings.Contains(contentType, "svg")
	if !text || len(body) < 1024 {
		return nil
	}
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
	if _, err := w.Write(body); err != nil || w.Close() != nil {
		return nil
	}
	if b.Len() > len(body)*9/10 {
		return nil
	}
	return b.Bytes()
}

// etagMatches implements If-None-Match: a list of tags, or "*".
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
