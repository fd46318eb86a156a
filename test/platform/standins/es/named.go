package es

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// namedObjects is the API of one kind of named object the node keeps in its
// store (index templates, lifecycle policies): a put stores one, a get
// answers with those a name matches, a delete removes one.
type namedObjects[V any] struct {
	objects   func(*Store) map[string]V
	put, get  []string // the methods that store and that read
	putParams []string // the query parameters a put takes; nil: not checked
	store     func(s *Store, name string, body map[string]any, q url.Values) error
	match     func(name, n string) bool
	view      func(s *Store, n string, v V) any // under the store's read lock
	answer    func(names []string, views []any) any
	notFound  func(name string) error // a name that matches nothing; nil: no error
	missing   func(name string) error // a delete of an object that is not there
	deleteOp  string                  // the state log's record of a delete
}

// serveNamed answers a request on the objects' endpoint; name is empty for
// the endpoint itself, which only reads.
func serveNamed[V any](s *Server, rq *request, name string, o *namedObjects[V]) {
	switch m := rq.r.Method; {
	case slices.Contains(o.put, m):
		if name == "" {
			s.methods(rq, get)
			return
		}
		if o.putParams != nil {
			if err := checkParams(rq, o.putParams...); err != nil {
				rq.fail(err)
				return
			}
		}
		body, err := rq.requireBody()
		if err != nil {
			rq.fail(err)
			return
		}
		if err := o.store(s.store, name, body, rq.q); err != nil {
			rq.fail(err)
			return
		}
		rq.json(http.StatusOK, map[string]any{"acknowledged": true})
	case slices.Contains(o.get, m):
		s.store.mu.RLock()
		var names []string
		var views []any
		objects := o.objects(s.store)
		for _, n := range sortedKeys(objects) {
			if name == "" || o.match(name, n) {
				names = append(names, n)
				views = append(views, o.view(s.store, n, objects[n]))
			}
		}
		s.store.mu.RUnlock()
		if len(names) == 0 && name != "" {
			if err := o.notFound(name); err != nil {
				rq.fail(err)
				return
			}
		}
		rq.json(http.StatusOK, o.answer(names, views))
	case m == del:
		if name == "" {
			s.methods(rq, get)
			return
		}
		s.store.mu.Lock()
		objects := o.objects(s.store)
		_, ok := objects[name]
		if ok {
			delete(objects, name)
			s.store.logRecord(record{Op: o.deleteOp, Name: name})
		}
		err := s.store.commit()
		s.store.mu.Unlock()
		if !ok {
			rq.fail(o.missing(name))
			return
		}
		if err != nil {
			rq.fail(err)
			return
		}
		rq.json(http.StatusOK, map[string]any{"acknowledged": true})
	default:
		s.methods(rq, slices.Concat(o.get, o.put, []string{del})...)
	}
}

var indexTemplates = &namedObjects[*indexTemplate]{
	objects:   func(s *Store) map[string]*indexTemplate { return s.templates },
	put:       []string{put, post},
	get:       []string{get, head},
	putParams: []string{"create", "master_timeout", "cause"},
	store: func(s *Store, name string, body map[string]any, q url.Values) error {
		return s.PutTemplate(name, body, q.Get("create") == "true")
	},
	match: globMatch,
	view:  func(_ *Store, _ string, t *indexTemplate) any { return t.body },
	answer: func(names []string, views []any) any {
		list := []any{}
		for i, n := range names {
			list = append(list, map[string]any{"name": n, "index_template": views[i]})
		}
		return map[string]any{"index_templates": list}
	},
	notFound: func(name string) error {
		if strings.Contains(name, "*") {
			return nil
		}
		return errf(http.StatusNotFound, "resource_not_found_exception", "index template matching [%s] not found", name)
	},
	missing: func(name string) error {
		return errf(http.StatusNotFound, "index_template_missing_exception", "index_template [%s] missing", name)
	},
	deleteOp: "template_delete",
}

var lifecyclePolicies = &namedObjects[*ilmPolicy]{
	objects: func(s *Store) map[string]*ilmPolicy { return s.policies },
	put:     []string{put},
	get:     []string{get},
	store: func(s *Store, name string, body map[string]any, _ url.Values) error {
		return s.PutPolicy(name, body)
	},
	match: func(name, n string) bool { return slices.Contains(strings.Split(name, ","), n) },
	view: func(s *Store, n string, p *ilmPolicy) any {
		indices, templates := []string{}, []string{}
		for _, in := range sortedKeys(s.indices) {
			if s.indices[in].setting("lifecycle.name", "") == n {
				indices = append(indices, in)
			}
		}
		for _, tn := range sortedKeys(s.templates) {
			if s.templates[tn].settings["index.lifecycle.name"] == n {
				templates = append(templates, tn)
			}
		}
		return map[string]any{"version": p.Version, "modified_date": p.Modified, "policy": p.Policy,
			"in_use_by": map[string]any{"indices": indices, "data_streams": []string{}, "composable_templates": templates}}
	},
	answer: func(names []string, views []any) any {
		out := map[string]any{}
		for i, n := range names {
			out[n] = views[i]
		}
		return out
	},
	notFound: lifecyclePolicyNotFound,
	missing:  lifecyclePolicyNotFound,
	deleteOp: "ilm_delete",
}

func lifecyclePolicyNotFound(name string) error {
	return errf(http.StatusNotFound, "resource_not_found_exception", "Lifecycle policy not found: [%s]", name)
}
