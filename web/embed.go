// Package web serves the chat's browser UI: the React app built by Vite into
// web/dist and embedded into the binary with go:embed.
//
// Build the UI with `make web-build` (or `cd web && npm ci && npm run build`)
// before `go build`; without it Handler serves a short page that says so.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// notBuiltPage is served for every page request when web/dist holds no
// index.html. It is plain HTML: the Content-Security-Policy allows no inline
// style or script.
const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChatCluster: UI not built</title></head>
<body>
<h1>The web UI was not built into this binary</h1>
<p>Build it, then build the server again:</p>
<pre>make web-build</pre>
<p>or</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>The chat API (<code>/api</code>, <code>/ws</code>) works without it.</p>
</body></html>
`

// Handler serves the embedded UI.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return NewHandler(sub)
}

// NewHandler serves a built UI from files (the layout of web/dist):
//   - an existing file is served as is; files under assets/ (names carry a
//     content hash) are cached for a year, everything else must revalidate;
//   - any other GET or HEAD of a path without a file extension gets index.html
//     (the app routes on the client), never cached;
//   - a missing file with an extension is 404;
//   - without index.html, page requests get a page telling how to build the UI.
func NewHandler(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if name != "" && name != "index.html" && !strings.HasPrefix(path.Base(name), ".") {
			if st, err := fs.Stat(files, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					w.Header().Set("Cache-Control", "no-cache")
				}
				fileServer.ServeHTTP(w, r)
				return
			}
			if path.Ext(name) != "" {
				w.Header().Set("Cache-Control", "no-cache")
				http.NotFound(w, r)
				return
			}
		}
		serveIndex(w, r, files)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request, files fs.FS) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(notBuiltPage))
		}
		return
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(index)
	}
}
