package engine

import "regexp"

// URL credentials and query strings are secrets often enough (basic-auth
// passwords, ?token=, signed URLs) that an error quoting a URL must not
// store them where every viewer reads the run: a step error keeps the
// scheme, host and path, and shows "***" for the user info and the query.
var (
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s"'@]+@`)
	urlQuery    = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s"'?#]*)\?[^\s"'#]*`)
)

// redactURLs hides the credentials and query of every URL in msg.
func redactURLs(msg string) string {
	msg = urlUserinfo.ReplaceAllString(msg, "${1}***@")
	return urlQuery.ReplaceAllString(msg, "${1}?***")
}
