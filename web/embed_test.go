package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// response is what a handler answered to one request.
type response struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func get(t *testing.T, h http.Handler, method, target string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	res := rec.Result()
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(body)}
}

func builtUI() fstest.MapFS {
	return fstest.MapFS{
		"index.html":              {Data: []byte("<!doctype html><title>ChatCluster</title><div id=root></div>")},
		"assets/index-abc123.js":  {Data: []byte("console.log('app')")},
		"assets/index-abc123.css": {Data: []byte("body{}")},
		"favicon.svg":             {Data: []byte("<svg/>")},
		".keep":                   {Data: nil},
	}
}

func TestHandlerServesIndexAtRootAndForClientRoutes(t *testing.T) {
	h := NewHandler(builtUI())
	for _, target := range []string{"/", "/index.html", "/rooms/general", "/dm/bob", "/activity", "/activity/"} {
		res := get(t, h, http.MethodGet, target)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, res.StatusCode)
		}
		if !strings.Contains(res.Body, "<title>ChatCluster</title>") {
			t.Errorf("GET %s: not index.html: %q", target, res.Body)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", target, got)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
	}
}

func TestHandlerCachesHashedAssetsForever(t *testing.T) {
	h := NewHandler(builtUI())
	res := get(t, h, http.MethodGet, "/assets/index-abc123.js")
	if res.StatusCode != http.StatusOK || res.Body != "console.log('app')" {
		t.Fatalf("asset: status %d body %q", res.StatusCode, res.Body)
	}
	if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "max-age=31536000") || !strings.Contains(got, "immutable") {
		t.Errorf("asset Cache-Control %q", got)
	}
	if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("asset Content-Type %q", ct)
	}
	res = get(t, h, http.MethodGet, "/favicon.svg")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("unhashed file: status %d Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}

func TestHandlerMissingFilesAndMethods(t *testing.T) {
	h := NewHandler(builtUI())
	for _, target := range []string{"/assets/missing-123.js", "/nope.png", "/.keep"} {
		res := get(t, h, http.MethodGet, target)
		if target == "/.keep" {
			// dot files are never served as files; without an extension rule it is a page path
			if strings.Contains(res.Body, "console.log") {
				t.Errorf("GET %s served a file", target)
			}
			continue
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, res.StatusCode)
		}
	}
	res := get(t, h, http.MethodPost, "/")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", res.StatusCode)
	}
	res = get(t, h, http.MethodHead, "/rooms/x")
	if res.StatusCode != http.StatusOK || res.Body != "" {
		t.Errorf("HEAD: status %d body %q", res.StatusCode, res.Body)
	}
	res = get(t, h, http.MethodGet, "/../../etc/passwd")
	if res.StatusCode != http.StatusOK {
		t.Errorf("path traversal should fall back to index, got %d", res.StatusCode)
	}
}

func TestHandlerWithoutBuiltUITellsHowToBuild(t *testing.T) {
	h := NewHandler(fstest.MapFS{".keep": {Data: nil}})
	for _, target := range []string{"/", "/rooms/general"} {
		res := get(t, h, http.MethodGet, target)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, res.StatusCode)
		}
		if !strings.Contains(res.Body, "make web-build") || !strings.Contains(res.Body, "npm ci &amp;&amp; npm run build") {
			t.Errorf("GET %s: no build instructions in %q", target, res.Body)
		}
	}
}

func TestEmbeddedHandler(t *testing.T) {
	// Works whether or not the UI was built: either index.html or the build page.
	res := get(t, Handler(), http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if !strings.Contains(res.Body, `<div id="root">`) && !strings.Contains(res.Body, "make web-build") {
		t.Errorf("neither the app nor the build page: %q", res.Body)
	}
}
