package main

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// Store limits. The store lives in memory, so every way in is bounded.
const (
	maxItems       = 10_000 // items held at once
	maxNameBytes   = 200    // bytes in an item's name
	watchQueueSize = 64     // events buffered for one watcher before it is dropped
)

var (
	errNotFound  = errors.New("item not found")
	errFull      = fmt.Errorf("the store holds its limit of %d items", maxItems)
	errEmptyName = errors.New("name is empty")
	errLongName  = fmt.Errorf("name is longer than %d bytes", maxNameBytes)
	errNotOwner  = errors.New("only the item's owner or an items:admin caller may delete it")
)

// store is an in-memory item store that tells watchers about each change.
// Items are never modified once stored, so they are shared, not copied.
type store struct {
	now func() time.Time

	mu       sync.Mutex
	seq      int
	items    map[string]entry
	watchers map[*watcher]struct{}
}

type entry struct {
	seq  int
	item *itemsv1.Item
}

// watcher receives the events of one WatchItems call. The store closes
// events when the watcher falls more than watchQueueSize events behind, so
// a slow reader costs bounded memory.
type watcher struct {
	events chan *itemsv1.WatchItemsResponse
}

func newStore(now func() time.Time) *store {
	return &store{now: now, items: map[string]entry{}, watchers: map[*watcher]struct{}{}}
}

// checkName reports why name cannot be an item's name, or nil.
func checkName(name string) error {
	switch {
	case name == "":
		return errEmptyName
	case len(name) > maxNameBytes:
		return errLongName
	}
	return nil
}

// create stores a new item made, and owned, by the caller identified by
// subject and clientID.
func (s *store) create(name, subject, clientID string) (*itemsv1.Item, error) {
	return s.createFor(name, subject, subject, clientID)
}

// createFor stores a new item owned by owner, made by the caller identified
// by subject and clientID.
func (s *store) createFor(name, owner, subject, clientID string) (*itemsv1.Item, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) >= maxItems {
		return nil, errFull
	}
	s.seq++
	it := &itemsv1.Item{
		Id:              fmt.Sprintf("item-%d", s.seq),
		Name:            name,
		CreatedBy:       subject,
		CreatedByClient: clientID,
		CreateTime:      timestamppb.New(s.now()),
		Owner:           owner,
	}
	s.items[it.Id] = entry{seq: s.seq, item: it}
	s.publishLocked(itemsv1.WatchItemsResponse_KIND_CREATED, it)
	return it, nil
}

// get returns the item with id.
func (s *store) get(id string) (*itemsv1.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[id]
	if !ok {
		return nil, errNotFound
	}
	return e.item, nil
}

// list returns every item in creation order.
func (s *store) list() []*itemsv1.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked()
}

func (s *store) listLocked() []*itemsv1.Item {
	es := make([]entry, 0, len(s.items))
	for _, e := range s.items {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b entry) int { return a.seq - b.seq })
	out := make([]*itemsv1.Item, len(es))
	for i, e := range es {
		out[i] = e.item
	}
	return out
}

// delete removes the item with id.
func (s *store) delete(id string) error {
	return s.deleteBy(id, "", true)
}

// deleteBy removes the item with id for caller: only when caller owns it
// or admin is set (errNotOwner otherwise). The check and the removal are
// one step under the lock.
func (s *store) deleteBy(id, caller string, admin bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[id]
	if !ok {
		return errNotFound
	}
	if !admin && e.item.GetOwner() != caller {
		return errNotOwner
	}
	delete(s.items, id)
	s.publishLocked(itemsv1.WatchItemsResponse_KIND_DELETED, e.item)
	return nil
}

// purge removes every item and returns how many there were.
func (s *store) purge() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.items)
	for _, it := range s.listLocked() {
		delete(s.items, it.GetId())
		s.publishLocked(itemsv1.WatchItemsResponse_KIND_DELETED, it)
	}
	return n
}

// watch registers a watcher and returns it with the items that exist now;
// every change after that arrives on the watcher's events. The caller must
// call unwatch when done.
func (s *store) watch() (*watcher, []*itemsv1.Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &watcher{events: make(chan *itemsv1.WatchItemsResponse, watchQueueSize)}
	s.watchers[w] = struct{}{}
	return w, s.listLocked()
}

// unwatch forgets w. It is safe to call after the store dropped w.
func (s *store) unwatch(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.watchers[w]; ok {
		delete(s.watchers, w)
		close(w.events)
	}
}

// publishLocked queues an event for every watcher, dropping (closing) any
// watcher whose queue is full. s.mu must be held.
func (s *store) publishLocked(kind itemsv1.WatchItemsResponse_Kind, it *itemsv1.Item) {
	ev := &itemsv1.WatchItemsResponse{Kind: kind, Item: it}
	for w := range s.watchers {
		select {
		case w.events <- ev:
		default:
			delete(s.watchers, w)
			close(w.events)
		}
	}
}
